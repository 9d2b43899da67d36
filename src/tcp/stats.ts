/**
 * Stack-wide TCP counters, named after what they count, close to the
 * Linux MIB names (`nstat`) where one exists so that the two are easy to
 * compare side by side.
 */
export class TcpStats {
  /** Segments handed to TCP by the IP layer, valid or not. */
  segmentsIn = 0;
  segmentsOut = 0;
  /** Segments sent again: RTO retransmissions, SYN and SYN-ACK retransmissions. */
  retransmittedSegments = 0;
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
}
