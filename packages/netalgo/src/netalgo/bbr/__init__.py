"""BBR congestion control: the IETF draft (BBRv3) by default, Linux BBRv3 and BBRv1 as profiles.

``BBR(profile="draft")`` follows draft-ietf-ccwg-bbr-06 (July 2026, the
newest revision; section numbers in this package are that revision's):
Startup, Drain, ProbeBW_DOWN / CRUISE / REFILL / UP and ProbeRTT (5.3), the
max_bw filter over 2 ProbeBW cycles (5.5.3-5.5.6), min_rtt over 10 s with
ProbeRTT every 5 s for 200 ms plus a round at 0.5 BDP (5.3.4), full-pipe
detection (5.3.1.2), the loss response with inflight_longterm /
inflight_shortterm / bw_shortterm (5.5.10; Linux calls them inflight_hi /
inflight_lo / bw_lo), the probe-up acceleration (5.3.3.9), the Startup exit
on high loss (5.3.1.3), ACK aggregation (extra_acked, 5.5.9), the send
quantum (5.6.3), restart from idle (5.4) and spurious-loss undo (5.5.11).

Constants of the three profiles (``PROFILES``), with their sources:

=========================  ==========  ===================  ================
constant                   "draft"     "linux_v3"           "v1"
=========================  ==========  ===================  ================
Startup pacing gain        2.77        710/256 = 2.7734     2/ln2 = 2.885
Startup cwnd gain          2           2                    2/ln2 = 2.885
Drain pacing gain          0.5 [1]     88/256 = 0.34375     ln2/2 = 0.347
Drain cwnd gain            2           2                    2/ln2 = 2.885
Drain time limit           3 rounds    none                 none
ProbeBW pacing gains       DOWN 0.90   DOWN 232/256=0.906   cycle 1.25, 0.75,
                           CRUISE 1    CRUISE 1             then six 1.0
                           REFILL 1    REFILL 1             phases, each
                           UP 1.25     UP 1.25              ~min_rtt long
cwnd gain (UP)             2 (2.25)    2 (2.25)             2 (2)
max_bw filter              2 cycles    2 cycles             10 rounds
full-pipe test sample      RS rate     RS rate              max_bw
loss response              yes         yes                  none
LossThresh / Beta          0.02 / 0.7  5/256 / 180/256      --
Headroom                   0.15        38/256 = 0.148       --
Startup high-loss exit     6 events    6 events             none
extra_acked window         10 rounds   5 rounds, <= 100 ms  not used
ProbeRTT interval          5 s         5 s                  10 s
ProbeRTT cwnd              0.5 BDP     0.5 BDP              4 packets
ProbeRTT duration          200 ms      200 ms               200 ms
MinPipeCwnd                4 packets   4 packets            4 packets
pacing margin              1%          1%                   1%
=========================  ==========  ===================  ================

Sources and differences:

* "draft": draft-ietf-ccwg-bbr-06 sections 2.5-2.16 and the table of
  section 5.6.1. [1] The Drain pacing gain was 0.35 up to
  draft-ietf-ccwg-bbr-04 (section 2.4 there); -05 and -06 use 0.5 together
  with a 3-round limit on Drain (section 5.3.2 of -06).
* "linux_v3": google/bbr branch ``v3``, net/ipv4/tcp_bbr.c (the
  implementation the draft lists in section 6). Linux holds gains in
  fixed point with BBR_UNIT = 256 and C integer division, so its constants
  are the quantised values above: ``bbr_startup_pacing_gain = BBR_UNIT *
  277 / 100 + 1``, ``bbr_drain_gain = BBR_UNIT * 1000 / 2885`` (1/2.885,
  not the draft's 0.5), ``bbr_pacing_gain[DOWN] = BBR_UNIT * 91 / 100``,
  ``bbr_loss_thresh = BBR_UNIT * 2 / 100``, ``bbr_beta = BBR_UNIT * 30 /
  100`` (a 30% cut, keeping 180/256), ``bbr_inflight_headroom = BBR_UNIT *
  15 / 100``, ``bbr_extra_acked_win_rtts = 5`` and ``bbr_extra_acked_max_us
  = 100 ms``. Linux has no Drain round limit. The Startup cwnd gain (2),
  the UP cwnd gain (``bbr_cwnd_gain + bbr_bw_probe_cwnd_gain * BBR_UNIT/4``
  = 2.25), the ProbeRTT cwnd (``bbr_probe_rtt_cwnd_gain`` = 0.5 BDP, at
  least ``bbr_cwnd_min_target`` = 4 packets), ``bbr_probe_rtt_win_ms`` = 5 s
  and ``bbr_probe_rtt_mode_ms`` = 200 ms equal the draft's. Not modelled:
  Linux's ECN response (the draft leaves ECN open, section 3.7), TSO
  autosizing (here the send quantum of section 5.6.3), and fixed-point
  rounding of bandwidth and BDP.
* "v1": the original BBR, draft-cardwell-iccrg-bbr-congestion-control-00
  (sections 4.3.2.1 "BBRHighGain = 2/ln(2)", 4.3.4.3 the gain cycle, 4.1.1
  BBRBtlBwFilterLen = 10 rounds, 4.1.2 and 4.3.5 min_rtt over 10 s with
  ProbeRTT at BBRMinPipeCwnd = 4 packets for 200 ms) and Linux mainline
  net/ipv4/tcp_bbr.c (``bbr_high_gain``, ``bbr_drain_gain = 1/high_gain``,
  ``bbr_pacing_gain[]``, ``bbr_cwnd_gain = 2``, ``bbr_cycle_rand``: ProbeBW
  starts at a random phase other than the 0.75 one). No loss response and
  no inflight bounds. The ProbeBW phases are reported through ``state`` as
  "ProbeBW_UP" (gain 1.25), "ProbeBW_DOWN" (0.75) and "ProbeBW_CRUISE"
  (1.0). Not modelled: Linux v1's long-term ("policer") bandwidth sampling,
  its packet conservation in the first round of recovery, and its
  ack-aggregation estimate (added in Linux 4.19, absent from the v1 draft).

Where this package departs from the draft's pseudocode, and why:

* The controller sees the sender only through the CongestionController
  Protocol, so it keeps C.delivered and C.lost itself (from acked and lost
  bytes) and treats a send made with nothing in flight, outside RTO
  recovery, as the application-limited restart of section 5.4.1.
* HandleProbeRTT()'s MarkConnectionAppLimited() cannot reach the sender's
  delivery-rate estimator, so the controller itself treats rate samples of
  sends made while it was in ProbeRTT as application-limited.
* C.is_cwnd_limited is "a send left less than one MSS of cwnd free in this
  or the previous round trip".
* Startup's high-loss exit counts loss events (losses marked at one instant
  count once) as Linux does, for the draft's "discontiguous lost sequence
  ranges", and requires one full round of recovery, a loss rate above
  LossThresh on the ACKed packet (IsInflightTooHigh) and 6 events in the
  round.
* IsRenoCoexistenceProbeTime() counts TargetInflight() in packets (as
  Linux does); the draft's byte count would never bind.
* The max_bw filter is :class:`netalgo.filters.WindowedMaxFilter` with
  ``t = BBR.cycle_count`` and a window of one cycle of age, so a sample
  lives through its own cycle and the next ("the current cycle and the
  previous full cycle", section 2.11).
* An RTT sample refreshes BBR.probe_rtt_min_delay only if it is lower by at
  least 1 microsecond (Linux keeps RTTs in whole microseconds); otherwise
  samples equal up to floating-point noise would postpone ProbeRTT forever.
* Loss recovery ends when an ACK covers a send made after recovery began
  (RestoreCwnd() of section 5.6.4.4 then runs); on an RTO, C.cwnd drops to
  C.inflight + 1 MSS.
"""

from netalgo.bbr._controller import BBR as BBR
from netalgo.bbr._profiles import PROFILES as PROFILES
from netalgo.bbr._profiles import BbrProfile as BbrProfile

__all__ = ["BBR", "PROFILES", "BbrProfile"]
