"""A deterministic discrete-event simulator of one bottleneck link shared by N flows.

Serialisation at the link rate, propagation delay (``base_rtt / 2`` each
way), a drop-tail buffer in bytes, random or periodic loss and rate steps
over time; each sender drives its controller only through
:class:`netalgo.protocols.CongestionController`, with a delivery-rate
estimator (draft-cheng-iccrg-delivery-rate-estimation) and an RFC 6298
retransmission timer. Results: per-flow goodput, state over time and
transitions; the link's queueing delay and drops; Jain's fairness index.

    from netalgo.sim import Flow, Link, Simulation
    link = Link(rate=6.25e6, base_rtt=0.040, buffer=250_000)
    result = Simulation(link, [Flow(controller)]).run(30.0)
    result.utilisation(), result.flows[0].goodput(), result.link.mean_queue_delay()
"""

from netalgo.sim._config import Flow as Flow
from netalgo.sim._config import Link as Link
from netalgo.sim._engine import Simulation as Simulation
from netalgo.sim._results import FlowResult as FlowResult
from netalgo.sim._results import FlowSample as FlowSample
from netalgo.sim._results import LinkResult as LinkResult
from netalgo.sim._results import LinkSample as LinkSample
from netalgo.sim._results import SimResult as SimResult
from netalgo.sim._results import jain_index as jain_index

__all__ = [
    "Flow",
    "FlowResult",
    "FlowSample",
    "Link",
    "LinkResult",
    "LinkSample",
    "SimResult",
    "Simulation",
    "jain_index",
]
