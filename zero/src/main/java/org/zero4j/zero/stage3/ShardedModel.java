package org.zero4j.zero.stage3;

import java.util.List;

/**
 * A model that declares its sharding units. The engine finds them here at ZeRO stage 3; every
 * trainable parameter outside them belongs to the root unit, which stays gathered.
 */
public interface ShardedModel {

  /** The units, in the order the forward pass calls them. */
  List<ShardedUnit> units();
}
