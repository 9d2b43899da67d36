/**
 * Stack-wide TCP counters, named after what they count, close to the
 * Linux MIB names (`nstat`) where one exists so that the two are easy to
 * compare side by side.
 */
export class TcpStats {
  /** Segments handed to TCP by the IP layer, valid or not; a super-packet counts as the segments it stands for. */
  segmentsIn = 0;
  /** Segments sent; a super-packet counts as the segments the kernel cuts it into (Linux: gso_segs). */
  segmentsOut = 0;
  /** Super-packets sent whole for the kernel to segment (TSO through IFF_VNET_HDR, src/link/offload.ts). */
  superPacketsOut = 0;
  /** Super-packets the kernel handed us unsegmented. */
  superPacketsIn = 0;
  /** Segments sent again: RTO retransmissions, SYN and SYN-ACK retransmissions, loss recovery. */
  retransmittedSegments = 0;
  /** Payload bytes in those retransmissions. */
  retransmittedBytes = 0;
  /** Recoveries begun by duplicate ACKs or SACK (RFC 5681 §3.2; Linux TCPFastRetrans counts segments). */
  fastRetransmits = 0;
  /** Of those, recoveries driven by the SACK scoreboard (RFC 6675; Linux TCPSackRecovery). */
  sackRecoveries = 0;
  /** Retransmission timer expiries with data outstanding (Linux TCPTimeouts also counts SYNs). */
  rtoTimeouts = 0;
  /** Recoveries D-SACK showed to be spurious, whose window reduction was undone (Linux TCPDSACKUndo). */
  recoveryUndos = 0;
  /** Retransmissions SACK showed lost and that were sent again before the timeout (Linux TCPLostRetransmit). */
  lostRetransmits = 0;
  /** Reordering deeper than DupThresh seen in SACK information: DupThresh raised (Linux TCPSACKReorder). */
  reorderingDetected = 0;
  badChecksum = 0;
  /** Too short, bad data offset, malformed options, port 0. */
  malformed = 0;
  rstsSent = 0;
  rstsReceived = 0;
  /** connect() calls that sent a SYN (Linux ActiveOpens). */
  activeOpens = 0;
  /** SYNs that created a SYN-RECEIVED entry at a listener (Linux PassiveOpens). */
  passiveOpens = 0;
  /** SYNs dropped because the listener's SYN queue was full. */
  synQueueOverflows = 0;
  /** Final handshake ACKs dropped because the accept queue was full (Linux ListenOverflows). */
  acceptQueueOverflows = 0;
  /** SYNs dropped because the accept queue was already full (Linux counts them in ListenDrops). */
  synDroppedAcceptQueueFull = 0;
  /** Connections ended by a reset we received (ECONNRESET, ECONNREFUSED). */
  connectionsReset = 0;
  /** Connections that failed with ETIMEDOUT (retransmissions, SYN retries, keepalive, probes). */
  timeouts = 0;
  /** Half-open entries freed after the SYN-ACK retransmissions ran out. */
  synAckTimeouts = 0;
  /** SYNs dropped because the connection table was at maxConnections. */
  connectionTableFull = 0;
  /** Segments that failed the sequence acceptability test (answered with an ACK unless RST). */
  unacceptableSegments = 0;
  /** Of those, ACKs held back by the per-connection rate limit, invalidRateLimitMs (Linux TCPACKSkippedSeq). */
  outOfWindowAcksSkipped = 0;
  /** Out-of-order segments dropped because the assembler had no range left. */
  oooDropped = 0;
  /** Zero-window probes sent by the persist timer. */
  zeroWindowProbes = 0;
  keepAliveProbes = 0;
  /** Pure ACKs sent by the delayed-ACK timer. */
  delayedAcks = 0;
  /** Segments for no connection and no listener (answered with RST unless RST). */
  noConnection = 0;
  /** Connections that reached ESTABLISHED. */
  established = 0;

  // -- RFC 7323, RFC 4987, RFC 5961, orphans --
  /** Segments dropped by PAWS, TSval older than TS.Recent (RFC 7323 §5.3; Linux PAWSEstabRejected). */
  pawsRejected = 0;
  /** SYN-ACKs sent with a SYN cookie instead of a SYN-queue entry (Linux SyncookiesSent). */
  cookiesSent = 0;
  /** ACKs that returned a valid cookie (Linux SyncookiesRecv). */
  cookiesValidated = 0;
  /** ACKs to a listener that sent cookies whose cookie was forged or expired (Linux SyncookiesFailed). */
  cookiesRejected = 0;
  /** Challenge ACKs sent (RFC 5961; Linux TCPChallengeACK), and those the rate limit held back. */
  challengeAcks = 0;
  challengeAcksSuppressed = 0;
  /** RSTs believed: SEG.SEQ = RCV.NXT exactly (RFC 5961 §3.2), and valid RSTs in SYN-SENT. */
  rstsAccepted = 0;
  /** RSTs not believed: outside the window, or in it but not at RCV.NXT (those get a challenge ACK). */
  rstsIgnored = 0;
  /** Segments dropped because their ACK was older than SND.UNA - MAX.SND.WND (RFC 5961 §5.2). */
  oldAcksDropped = 0;
  /** Orphaned connections freed after finWait2TimeoutMs in FIN-WAIT-2 (Linux counts them in TCPTimeouts). */
  finWait2Timeouts = 0;
  /** Connections reset because data arrived after close, or was unread at close (RFC 1122 §4.2.2.13; Linux TCPAbortOnData). */
  abortOnData = 0;
}
