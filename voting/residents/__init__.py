"""The resident registry: importing it (CSV or XLSX) and printing residents' personal voting codes."""
