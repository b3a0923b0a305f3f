package org.zero4j.engine.checkpoint;

/**
 * A fault-injection point for crash tests: called by every rank at each {@link SavePhase}; a fault
 * throws to simulate the process dying there. Production saves use {@link #NONE}.
 */
@FunctionalInterface
public interface SaveFaults {

  /** No faults. */
  SaveFaults NONE = (phase, rank) -> {};

  /** Called when {@code rank} reaches {@code phase}. */
  void at(SavePhase phase, int rank);
}
