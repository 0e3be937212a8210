"""The themes, subscriber pages and catalogues that come with bulletin: the top-level
templates/ folder, shipped inside the package as bulletin.templates (package data, read with
importlib.resources) and used wherever a workspace has no templates of its own."""
