package org.zero4j.zero.comm;

import java.time.Duration;

/**
 * Where and how a rank joins its process group.
 *
 * @param rank this process's rank, in [0, worldSize)
 * @param worldSize number of ranks in the group
 * @param masterAddr address of rank 0's TCP store (MASTER_ADDR)
 * @param masterPort port of rank 0's TCP store (MASTER_PORT)
 * @param timeout how long any rendezvous or collective may wait before it fails
 */
public record CommSpec(
    int rank, int worldSize, String masterAddr, int masterPort, Duration timeout) {

  public CommSpec {
    if (worldSize < 1) {
      throw new IllegalArgumentException("world size must be >= 1, got " + worldSize);
    }
    if (rank < 0 || rank >= worldSize) {
      throw new IllegalArgumentException(
          "rank must be in [0, " + worldSize + "), got " + rank + " (check RANK and WORLD_SIZE)");
    }
    if (masterPort < 1 || masterPort > 65535) {
      throw new IllegalArgumentException(
          "master port must be in [1, 65535], got " + masterPort + " (check MASTER_PORT)");
    }
    if (masterAddr == null || masterAddr.isBlank()) {
      throw new IllegalArgumentException("master address is empty (set MASTER_ADDR)");
    }
    if (timeout == null || timeout.isNegative() || timeout.isZero()) {
      throw new IllegalArgumentException("collective timeout must be positive, got " + timeout);
    }
  }
}
