"""The annual statement (figures, conclusion, digest, workflow, year lock, document) and the
auditors' personal annual confirmations.
"""
