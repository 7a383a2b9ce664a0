"""Import GlideinWMS factory and frontend XML configuration (`aglidein import-gwms`)."""

from aglidein.gwms.importer import ImportResult, import_gwms
from aglidein.gwms.xmlread import GwmsError

__all__ = ["GwmsError", "ImportResult", "import_gwms"]
