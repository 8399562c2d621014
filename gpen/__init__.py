"""gpen: blind face restoration with a generative facial prior (GFP-GAN, arXiv 2101.04061)."""

__version__ = "0.1.0"
