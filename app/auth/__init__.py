"""Sign-in, sessions, passwords, the second factor and one-time sign-in links.
"""
