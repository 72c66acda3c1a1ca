"""The files ``siayn plugins new`` writes, as :class:`string.Template` texts (``*.tmpl``)."""
