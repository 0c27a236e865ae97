"""The card preview on disk: HTML pages from our own autoescaped templates, the codes drawn by
segno and python-barcode, and the image files checked with Pillow."""
