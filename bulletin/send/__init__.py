"""Sending: the transports that hand each message to a mail server, a folder or memory."""
