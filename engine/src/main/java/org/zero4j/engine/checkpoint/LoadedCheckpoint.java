package org.zero4j.engine.checkpoint;

import java.nio.file.Path;
import java.util.Map;

/**
 * What {@code Engine.loadCheckpoint} loaded.
 *
 * @param tag the tag loaded
 * @param directory the tag's directory
 * @param clientState the user's map saved with it
 * @param sampler the data position saved with it, or null if none was
 * @param globalSteps the global step it was saved at
 * @param savedWorldSize the world size it was saved at
 */
public record LoadedCheckpoint(
    String tag,
    Path directory,
    Map<String, Object> clientState,
    SamplerPosition sampler,
    long globalSteps,
    int savedWorldSize) {}
