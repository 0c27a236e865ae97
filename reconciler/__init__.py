"""ipass: templates as code for AlipayHK wallet cards and tickets."""

__version__ = "0.1.0"
