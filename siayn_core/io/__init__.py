"""Images, clips and bundled files: read once, written atomically."""
