"""Output safety: files and folders written whole or not at all (``atomic``), and output
folders that edgekit replaces only when it wrote everything in them (``folder``)."""
