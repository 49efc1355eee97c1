"""Administration: accounts, organisation (departments, projects), bulk imports, agency and
mail settings.
"""
