"""The front door: the home page's panels for each role, the rules text, the language switch,
the health check, and the redirects from addresses that moved.
"""
