"""Archives: search an archive for a tile's scenes and fetch their files.

One module per archive implements the `Provider` protocol (provider.py) and is registered
once (registry.py); the transport (transfer/) is shared code the providers call. Importing
the package loads the registry, so the transport always knows the archives' sources.
"""

from raw2ready.archives import registry as registry
