"""``cargoship ship``: pack, hash, compress and upload a tree as one stream, then its index
and, last, its inventory.

    async with open_store("s3://bucket/archives", S3Config.load()) as store:
        report = await ship(store, Path("project"), ShipOptions(storage_class="DEEP_ARCHIVE"))
"""

from cargoship.ship._model import ShipOptions as ShipOptions
from cargoship.ship._model import ShipProgress as ShipProgress
from cargoship.ship._model import ShipReport as ShipReport
from cargoship.ship._ship import ship as ship

__all__ = ["ShipOptions", "ShipProgress", "ShipReport", "ship"]
