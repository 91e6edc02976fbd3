"""Clients for the image services, one module each, behind one request model and error set."""
