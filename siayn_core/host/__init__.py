"""The plugin host: entry points, ``--plugin`` modules, the registry of components, and
the scaffold of a new plugin package."""
