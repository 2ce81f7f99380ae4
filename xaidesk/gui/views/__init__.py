"""pyqtgraph views of inputs and relevance maps."""
