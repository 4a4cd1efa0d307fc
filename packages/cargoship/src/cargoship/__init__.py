"""cargoship: archive directory trees to S3 as seekable tar.zst, restore, verify, manage cost.

The ``cargoship`` command (:mod:`cargoship.cli`) is a thin layer over these
modules, each usable on its own::

    from cargoship.ship import ShipOptions, ship          # pack, compress, upload
    from cargoship.restore import RestoreOptions, restore # whole, or --include by ranged reads
    from cargoship.verify import verify                   # frames, checksums, S3 part checksums
    from cargoship.catalog import archives, search        # inventories across archives
    from cargoship.retrieval import plan_retrieval        # Glacier / Deep Archive restores
    from cargoship.lifecycle import plan_lifecycle        # storage-class transitions, priced
    from cargoship.estimate import estimate               # projected size and cost

The functions are not re-exported here: ``cargoship.ship`` is the module, and
importing ``cargoship`` stays cheap (no S3 client is loaded until used).
"""

from cargoship._version import __version__ as __version__

__all__ = ["__version__"]
