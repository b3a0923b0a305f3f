package org.zero4j.engine.checkpoint;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.PropertyNamingStrategies;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.zip.CRC32C;

/**
 * {@code <dir>/<tag>/manifest.json}: everything a checkpoint is, except tensor bytes. It is written
 * last, by rank 0, once every rank's files are complete; a tag directory without it is not a
 * checkpoint.
 *
 * @param format always {@value #FORMAT}
 * @param formatVersion {@value #VERSION}; a loader refuses versions it does not know
 * @param tag the tag the checkpoint was saved under
 * @param worldSize ranks that saved it
 * @param zeroStage the ZeRO stage it was saved at
 * @param dtype the working precision of the model states file (fp32, bf16, fp16)
 * @param steps the engine's counters
 * @param lossScaler the fp16 loss scaler's state
 * @param lrScheduler the LR schedule's position
 * @param sampler the data position the user saved, or null
 * @param clientState the user's map, returned on load
 * @param config the resolved DeepSpeed config the run used
 * @param parameters the trainable parameters in registration order
 * @param partition the flat-buffer layout at save time (informational: loading uses fragments)
 * @param files every tensor file with its size, checksum and (optimizer files) fragments
 */
public record CheckpointManifest(
    String format,
    int formatVersion,
    String tag,
    int worldSize,
    int zeroStage,
    String dtype,
    Steps steps,
    ScalerState lossScaler,
    SchedulerState lrScheduler,
    SamplerPosition sampler,
    Map<String, Object> clientState,
    JsonNode config,
    List<ParamInfo> parameters,
    Partition partition,
    List<FileInfo> files) {

  public static final String FORMAT = "zero4j-checkpoint";
  public static final int VERSION = 1;
  public static final String FILE_NAME = "manifest.json";

  /**
   * The engine's counters: optimizer steps taken or skipped ({@code global_steps}), {@code step()}
   * calls, applied and skipped updates, Adam's step count and the LR schedule's position.
   */
  public record Steps(
      long globalSteps,
      long microSteps,
      long appliedSteps,
      long skippedSteps,
      long optimizerSteps,
      long schedulerSteps) {}

  /** {@link org.zero4j.zero.precision.LossScaler.State}, by name. */
  public record ScalerState(double scale, long curIter, long lastOverflowIter, int curHysteresis) {}

  /** The schedule type (null without one), its step count and the LR of the next step. */
  public record SchedulerState(String type, long steps, double lr) {}

  /** A trainable parameter: name, shape and element count. */
  public record ParamInfo(String name, List<Long> shape, long numel) {}

  /** The flat-buffer layout: world size, bucket size and buckets in flat order. */
  public record Partition(
      int worldSize, long bucketNumel, long flatNumel, List<BucketInfo> buckets) {}

  /** One bucket of the flat buffer. */
  public record BucketInfo(long start, long numel, long paddedNumel) {}

  /**
   * A file of the checkpoint: its name in the tag directory, the rank that wrote it (-1 for the
   * model states), its size, the CRC-32C (hex) of its header, and for an optimizer file the
   * parameter fragments it holds. The header records every tensor's CRC-32C, so the header's
   * checksum covers the whole file (Note [checksums in one pass] in {@link SafetensorsWriter}).
   */
  public record FileInfo(
      String name, int rank, long bytes, String headerCrc32c, List<FragmentInfo> fragments) {}

  /** Elements {@code [start, start + numel)} of parameter {@code param}. */
  public record FragmentInfo(String param, long start, long numel) {}

  private static final ObjectMapper COMPACT = new ObjectMapper();

  static final ObjectMapper JSON =
      JsonMapper.builder()
          .propertyNamingStrategy(PropertyNamingStrategies.SNAKE_CASE)
          .enable(SerializationFeature.INDENT_OUTPUT)
          .disable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES)
          .build();

  /** The file of the given name; an error naming the manifest if it lists none. */
  public FileInfo file(String name, Path tagDir) {
    for (FileInfo f : files) {
      if (f.name().equals(name)) {
        return f;
      }
    }
    throw new IllegalArgumentException(
        tagDir.resolve(FILE_NAME) + " lists no file " + name + "; the checkpoint is incomplete");
  }

  // Note [manifest checksum]: the manifest checks itself. Its JSON tree without the checksum field
  // is serialised compactly and CRC-32C'd; the result is stored as "manifest_crc32c". A reader
  // parses the file, removes the field and recomputes: JSON numbers and strings round-trip
  // exactly, so any flipped byte that still parses (a digit of a step count) is caught too.
  private static final String SELF_CRC = "manifest_crc32c";

  private static String selfCrc(ObjectNode tree) throws IOException {
    CRC32C crc = new CRC32C();
    crc.update(COMPACT.writeValueAsBytes(tree));
    return hex(crc.getValue());
  }

  byte[] toJson() {
    try {
      ObjectNode tree = JSON.valueToTree(this);
      String crc = selfCrc(tree);
      ObjectNode out = JSON.createObjectNode().put(SELF_CRC, crc);
      out.setAll(tree);
      return JSON.writeValueAsBytes(out);
    } catch (IOException | IllegalArgumentException e) {
      throw new IllegalArgumentException(
          "the checkpoint manifest cannot be written as JSON (is client_state JSON-serialisable?): "
              + e.getMessage(),
          e);
    }
  }

  /** Reads {@code tagDir/manifest.json}, with errors that name the file. */
  public static CheckpointManifest read(Path tagDir) {
    Path file = tagDir.resolve(FILE_NAME);
    CheckpointManifest m;
    try {
      JsonNode root = JSON.readTree(Files.readAllBytes(file));
      if (!(root instanceof ObjectNode tree) || !tree.has(SELF_CRC)) {
        throw new IllegalArgumentException(
            "checkpoint manifest " + file + " is not a zero4j manifest (no " + SELF_CRC + ")");
      }
      String recorded = tree.remove(SELF_CRC).asText();
      String actual = selfCrc(tree);
      if (!recorded.equals(actual)) {
        throw new IllegalArgumentException(
            "checkpoint manifest "
                + file
                + " fails its CRC-32C check (recorded "
                + recorded
                + ", computed "
                + actual
                + "): it is corrupt");
      }
      m = JSON.treeToValue(tree, CheckpointManifest.class);
    } catch (NoSuchFileException e) {
      throw new IllegalArgumentException(
          "checkpoint manifest "
              + file
              + " is missing: the save did not complete, or this is not a checkpoint directory",
          e);
    } catch (IOException e) {
      throw new IllegalArgumentException(
          "checkpoint manifest " + file + " is unreadable or corrupt: " + e.getMessage(), e);
    }
    if (!FORMAT.equals(m.format()) || m.formatVersion() != VERSION) {
      throw new IllegalArgumentException(
          "checkpoint manifest "
              + file
              + " has format "
              + m.format()
              + " version "
              + m.formatVersion()
              + "; this build reads "
              + FORMAT
              + " version "
              + VERSION);
    }
    return m;
  }

  static String hex(long crc) {
    return String.format("%08x", crc);
  }
}
