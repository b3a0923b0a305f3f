package org.zero4j.engine.checkpoint;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;

/**
 * Names inside a checkpoint directory, DeepSpeed-style: {@code <dir>/<tag>/} per checkpoint and
 * {@code <dir>/latest} holding the newest complete tag. A save writes into {@code
 * <dir>/.staging-<tag>/} and renames it to {@code <dir>/<tag>/} once complete.
 */
public final class CheckpointDir {

  /** The file naming the newest tag. */
  public static final String LATEST = "latest";

  /** The model states file, written once by rank 0. */
  public static final String MODEL_FILE = "model_states.safetensors";

  /** The per-fragment tensors of an optimizer file: fp32 master, Adam's two moments. */
  static final String[] KINDS = {"fp32", "exp_avg", "exp_avg_sq"};

  /** The tensor holding a rank's libtorch CPU generator state. */
  static final String RNG_TENSOR = "rng/torch_cpu";

  /** Prefix of the {@code __metadata__} keys holding each tensor's CRC-32C (hex). */
  static final String CRC_KEY = "crc32c:";

  private CheckpointDir() {}

  /** The optimizer-state file of {@code rank}. */
  public static String optimizerFile(int rank) {
    return "optim_states_rank" + rank + ".safetensors";
  }

  /**
   * Name of fragment tensor {@code kind} ("fp32", "exp_avg", "exp_avg_sq") in an optimizer file.
   */
  static String fragmentTensor(String param, long start, String kind) {
    return param + "/" + start + "/" + kind;
  }

  static Path staging(Path dir, String tag) {
    return dir.resolve(".staging-" + tag);
  }

  static Path replaced(Path dir, String tag) {
    return dir.resolve(".replaced-" + tag);
  }

  /** Checks a user's tag: a plain directory name. */
  static String checkTag(String tag) {
    if (tag.isEmpty()
        || tag.length() > 200
        || tag.startsWith(".")
        || tag.contains("/")
        || tag.contains("\\")
        || tag.equals(LATEST)) {
      throw new IllegalArgumentException(
          "checkpoint tag \""
              + tag
              + "\" is not a plain directory name (non-empty, at most 200 characters, no '/',"
              + " not starting with '.', not \"latest\"); pass another tag or null for"
              + " global_step<N>");
    }
    return tag;
  }

  /** The tag {@code <dir>/latest} names. */
  public static String latest(Path dir) {
    Path file = dir.resolve(LATEST);
    try {
      String tag = Files.readString(file, StandardCharsets.UTF_8).strip();
      if (tag.isEmpty()) {
        throw new IllegalArgumentException(file + " is empty; pass a tag explicitly");
      }
      return tag;
    } catch (NoSuchFileException e) {
      throw new IllegalArgumentException(
          "no checkpoint to load in "
              + dir
              + ": "
              + file
              + " is missing (no save has completed there); pass a tag explicitly or check the"
              + " directory",
          e);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read " + file + ": " + e.getMessage(), e);
    }
  }

  /** The directory of {@code tag} (null: the latest), which must exist. */
  public static Path resolve(Path dir, String tag) {
    boolean fromLatest = tag == null;
    String t = fromLatest ? latest(dir) : tag;
    Path tagDir = dir.resolve(t);
    if (!Files.isDirectory(tagDir)) {
      String how = fromLatest ? dir.resolve(LATEST) + " names tag \"" + t + "\" but " : "";
      String aside =
          Files.isDirectory(replaced(dir, t))
              ? "; a save under the same tag was interrupted and left the previous copy at "
                  + replaced(dir, t)
                  + ": rename it back to "
                  + tagDir
              : "";
      throw new IllegalArgumentException(
          how + "checkpoint directory " + tagDir + " does not exist" + aside);
    }
    return tagDir;
  }
}
