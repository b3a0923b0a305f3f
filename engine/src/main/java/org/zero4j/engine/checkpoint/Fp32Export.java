package org.zero4j.engine.checkpoint;

import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.zero4j.engine.checkpoint.CheckpointManifest.FileInfo;
import org.zero4j.engine.checkpoint.CheckpointManifest.FragmentInfo;
import org.zero4j.engine.checkpoint.CheckpointManifest.ParamInfo;

/**
 * {@code zero4j to-fp32}: consolidates a checkpoint's fp32 master weights into one safetensors
 * state dict with the model's parameter names and shapes (DeepSpeed's {@code zero_to_fp32.py}).
 *
 * <p>Note [streamed consolidation]: the output's header is known from the manifest alone, and each
 * parameter's bytes are its saved fragments in element order. So fragments are copied file to file
 * through one bounded direct buffer, parameter by parameter, and each fragment's checksum is
 * checked on the way. Memory stays at the buffer plus the JVM, whatever the model size, and no
 * libtorch is loaded.
 */
public final class Fp32Export {

  private static final int BUFFER = 8 << 20;

  /** What was written. */
  public record Result(String tag, Path file, int parameters, long elements, long bytes) {}

  private Fp32Export() {}

  /** Writes {@code out} from the checkpoint {@code dir/tag} (tag null: the latest). */
  public static Result export(Path dir, String tag, Path out) {
    Path tagDir = CheckpointDir.resolve(dir, tag);
    CheckpointManifest m = CheckpointManifest.read(tagDir);
    Map<String, List<FragmentInfo>> byParam = new LinkedHashMap<>();
    Map<FragmentInfo, FileInfo> fileOf = new LinkedHashMap<>();
    for (FileInfo f : m.files()) {
      for (FragmentInfo frag : f.fragments()) {
        byParam.computeIfAbsent(frag.param(), k -> new ArrayList<>()).add(frag);
        fileOf.put(frag, f);
      }
    }
    List<TensorEntry> entries = new ArrayList<>();
    long elements = 0;
    for (ParamInfo p : m.parameters()) {
      long[] shape = p.shape().stream().mapToLong(Long::longValue).toArray();
      entries.add(TensorEntry.of(p.name(), TensorDtype.F32, shape));
      elements += p.numel();
    }
    Map<String, String> meta = new LinkedHashMap<>();
    meta.put("format", "pt");
    meta.put("zero4j_tag", m.tag());
    meta.put("zero4j_global_steps", Long.toString(m.steps().globalSteps()));
    ByteBuffer buffer = ByteBuffer.allocateDirect(BUFFER);
    try (CheckpointFiles files = new CheckpointFiles(tagDir, m);
        SafetensorsWriter w = SafetensorsWriter.create(out, entries, meta)) {
      for (ParamInfo p : m.parameters()) {
        List<FragmentInfo> frags = new ArrayList<>(byParam.getOrDefault(p.name(), List.of()));
        frags.sort(Comparator.comparingLong(FragmentInfo::start));
        long next = 0;
        for (FragmentInfo f : frags) {
          if (f.start() != next) {
            throw gap(tagDir, p, next);
          }
          SafetensorsReader r = files.open(fileOf.get(f).name());
          TensorEntry e =
              r.tensor(CheckpointDir.fragmentTensor(p.name(), f.start(), CheckpointDir.KINDS[0]));
          if (e.dtype() != TensorDtype.F32 || e.numel() != f.numel()) {
            throw new IllegalArgumentException(
                r.file() + ": tensor " + e + " does not match its manifest entry " + f);
          }
          CheckpointFiles.stream(r, e, buffer, (off, bytes) -> w.write(bytes));
          next += f.numel();
        }
        if (next != p.numel()) {
          throw gap(tagDir, p, next);
        }
      }
      return new Result(m.tag(), out, entries.size(), elements, w.commit().bytes());
    }
  }

  private static IllegalArgumentException gap(Path tagDir, ParamInfo p, long at) {
    return new IllegalArgumentException(
        tagDir.resolve(CheckpointManifest.FILE_NAME)
            + " has no fragment of parameter "
            + p.name()
            + " starting at element "
            + at
            + " (of "
            + p.numel()
            + "): the manifest is corrupt");
  }
}
