"""Thin adapters from other libraries' training loops to the probe: callbacks for Lightning
(:mod:`.lightning`) and the Hugging Face Trainer (:mod:`.transformers`). Each is imported from its
own module, so that neither optional package is needed by the other."""

__all__: list[str] = []
