"""What one app instance holds between requests."""

from dataclasses import dataclass

from .batching import MicroBatcher
from .errors import ModelNotReadyError
from .loader import LoadedModel
from .metrics import ModelMetrics
from .settings import Settings


@dataclass
class ServiceState:
    settings: Settings
    metrics: ModelMetrics
    model: LoadedModel | None = None
    """Set by the lifespan once the model is loaded and warmed up; None means not ready."""
    batcher: MicroBatcher | None = None
    """Set by the lifespan when micro-batching is on."""

    def ready_model(self) -> LoadedModel:
        """The model being served; until it is loaded, ModelNotReadyError (a 503)."""
        if self.model is None:
            raise ModelNotReadyError
        return self.model
