"""The resident registry: importing it (CSV or XLSX) and printing residents' personal voting codes."""


def __getattr__(name: str):
    # Nearly every feature imports the registry's models, and its pages import those features: so
    # the pages (and their blueprint) load only when the app asks for `bp`, once all is imported.
    if name == "bp":
        from .views import bp

        return bp
    raise AttributeError(name)
