"""voting: participatory budgeting for community livelihood funds (惠民实事票决制).

The package imports nothing: `voting.app.create_app` builds the web app, and `voting.tally`
counts without Flask or a database.
"""
