"""FedML storage: keep datasets and models on your own platform.

Log in once (``fedml login <API_KEY>`` on the command line, or ``fedml.api.fedml_login(api_key=...)``),
then call ``fedml.api.upload``, ``download``, ``delete``, ``get_storage_metadata``,
``get_storage_user_defined_metadata`` and ``list_storage_objects``. The server is the one the login
saved, or ``FEDML_SERVER_URL``; the API key is the argument, else ``FEDML_API_KEY``, else the saved one.
"""

from . import api
from ._native import __version__

__all__ = ["api", "__version__"]
