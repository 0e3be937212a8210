"""Sign-off bound to the exact content: the fingerprint of what recipients would get
(fingerprint.py, pure), who is approving or sending (identity.py), and the rule a send is
held to (gate.py)."""
