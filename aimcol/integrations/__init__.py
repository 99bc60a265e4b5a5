"""Framework adapters with Aim's module and class names (``aimcol.pytorch_lightning.AimLogger`` …).

Each adapter lives in its own module here and is re-exported by a thin ``aimcol/<framework>.py``
module, as Aim re-exports ``aim.sdk.adapters.*`` from ``aim/<framework>.py``; an Aim user's code
changes only its import line.  An adapter imports its framework when the adapter module is
imported, never from ``import aimcol``; a missing framework is an ``ImportError`` naming the
package to install.  Adapters use only the public SDK (``aimcol.Run``).
"""
