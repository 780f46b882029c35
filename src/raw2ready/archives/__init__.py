"""Archives: search an archive for a tile's scenes and fetch their files (the transfer code
is shared by every archive)."""
