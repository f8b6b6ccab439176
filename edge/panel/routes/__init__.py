"""One router per resource of the panel."""
