package org.zero4j.engine.checkpoint;

import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.zero4j.engine.checkpoint.CheckpointManifest.FileInfo;
import org.zero4j.engine.checkpoint.CheckpointManifest.FragmentInfo;
import org.zero4j.zero.AdamState;
import org.zero4j.zero.NamedParameter;
import org.zero4j.zero.PartitionedState;
import org.zero4j.zero.StateFragment;

/**
 * Loads a checkpoint's tensors into a running engine; every rank calls {@link #load} at the same
 * point. The engine's scalar state (counters, loss scaler, schedule) is restored by the engine from
 * the returned manifest.
 *
 * <p>Everything goes through {@link PartitionedState}, so one path covers stages 0-3 and every
 * optimizer offload placement. Each rank takes the fragments its own layout holds ({@link
 * PartitionedState#heldFragments()}) and copies into them the overlapping element ranges of the
 * saved fragments (Note [checkpoints store fragments, not shards] in {@link StateFragment}): any
 * saved world size, bucket size or stage loads into any other. Each saved tensor a rank touches is
 * streamed whole once, to verify its checksum. The working parameters are then rebuilt from the
 * fp32 masters, as after a step.
 *
 * <p>With {@code zero_optimization.load_from_fp32_weights: false} the masters come instead from the
 * model states file's (16-bit) weights, as in DeepSpeed. Without optimizer states (or module only),
 * the masters come from the model states file and the moments are zeroed. Converting a 16-bit value
 * to fp32 and back is exact, so the working parameters then equal the saved ones bit for bit.
 *
 * <p>A load that fails part-way (a corrupt file) leaves the engine's tensors partly overwritten;
 * load a good checkpoint before training on.
 */
public final class CheckpointLoader {

  private static final int SCRATCH = 8 << 20;

  /**
   * A saved tensor range of one parameter: a fragment of an optimizer file, or a whole parameter of
   * the model states file. {@code position}: its order in its file, which is its order on disk.
   */
  private record Source(
      int fileIndex, int position, String file, String param, long start, long numel) {}

  private record Overlap(long dstElem, long srcElem, long numel) {}

  private final EngineSnapshot engine;

  public CheckpointLoader(EngineSnapshot engine) {
    this.engine = engine;
  }

  /** Loads {@code tag} (null: the latest) from {@code dir}; returns its manifest. Collective. */
  public CheckpointManifest load(
      Path dir, String tag, boolean loadOptimizerStates, boolean loadModuleOnly) {
    Path tagDir = CheckpointDir.resolve(dir, tag);
    CheckpointManifest m = CheckpointManifest.read(tagDir);
    checkParameters(m, tagDir);
    PartitionedState state = engine.state();
    List<StateFragment> held = state.heldFragments();
    try (CheckpointFiles files = new CheckpointFiles(tagDir, m);
        Tensor scratch = torch.empty(SCRATCH / 4)) {
      ByteBuffer window = NativeBytes.window(scratch, 0, SCRATCH);
      List<AdamState> moments = List.of(AdamState.EXP_AVG, AdamState.EXP_AVG_SQ);
      if (loadModuleOnly || !loadOptimizerStates) {
        copy(plan(held, modelSources(m), m), files, List.of(AdamState.MASTER), scratch, window);
        zeroRanges(state, moments, List.of());
        zeroRanges(state, List.of(AdamState.MASTER), held);
      } else if (engine.config().zero().loadFromFp32Weights()) {
        copy(
            plan(held, fragmentSources(m), m), files, List.of(AdamState.values()), scratch, window);
        zeroRanges(state, List.of(AdamState.values()), held);
      } else {
        // load_from_fp32_weights=false: moments from the checkpoint, masters from the 16-bit model
        copy(plan(held, fragmentSources(m), m), files, moments, scratch, window);
        copy(plan(held, modelSources(m), m), files, List.of(AdamState.MASTER), scratch, window);
        zeroRanges(state, List.of(AdamState.values()), held);
      }
      state.refreshWorkingFromMaster();
      if (!loadModuleOnly) {
        restoreRng(m, files);
      }
    }
    return m;
  }

  private void checkParameters(CheckpointManifest m, Path tagDir) {
    PartitionedState state = engine.state();
    List<NamedParameter> params = state.parameters();
    List<CheckpointManifest.ParamInfo> saved = m.parameters();
    for (int i = 0; i < Math.max(params.size(), saved.size()); i++) {
      String mine =
          i < params.size()
              ? params.get(i).name() + " " + Arrays.toString(state.shape(i))
              : "nothing";
      String theirs =
          i < saved.size() ? saved.get(i).name() + " " + saved.get(i).shape() : "nothing";
      if (!mine.equals(theirs)) {
        throw new IllegalArgumentException(
            "checkpoint "
                + tagDir
                + " does not fit this model: trainable parameter "
                + i
                + " is "
                + mine
                + " here but "
                + theirs
                + " in "
                + CheckpointManifest.FILE_NAME
                + "; build the same model (same names, shapes and registration order)");
      }
    }
  }

  private static Map<String, List<Source>> fragmentSources(CheckpointManifest m) {
    Map<String, List<Source>> byParam = new LinkedHashMap<>();
    for (int i = 0; i < m.files().size(); i++) {
      FileInfo f = m.files().get(i);
      for (int j = 0; j < f.fragments().size(); j++) {
        FragmentInfo frag = f.fragments().get(j);
        byParam
            .computeIfAbsent(frag.param(), k -> new ArrayList<>())
            .add(new Source(i, j, f.name(), frag.param(), frag.start(), frag.numel()));
      }
    }
    return byParam;
  }

  private static Map<String, List<Source>> modelSources(CheckpointManifest m) {
    int index = m.files().indexOf(m.file(CheckpointDir.MODEL_FILE, Path.of(m.tag())));
    Map<String, List<Source>> byParam = new LinkedHashMap<>();
    for (int j = 0; j < m.parameters().size(); j++) {
      CheckpointManifest.ParamInfo p = m.parameters().get(j);
      byParam.put(
          p.name(),
          List.of(new Source(index, j, CheckpointDir.MODEL_FILE, p.name(), 0, p.numel())));
    }
    return byParam;
  }

  // For each saved range, the pieces of it that land in this rank's held fragments.
  private Map<Source, List<Overlap>> plan(
      List<StateFragment> held, Map<String, List<Source>> byParam, CheckpointManifest m) {
    List<NamedParameter> params = engine.state().parameters();
    Map<Source, List<Overlap>> plan = new LinkedHashMap<>();
    for (StateFragment t : held) {
      String name = params.get(t.param()).name();
      long covered = 0;
      for (Source s : byParam.getOrDefault(name, List.of())) {
        long lo = Math.max(t.start(), s.start());
        long hi = Math.min(t.end(), s.start() + s.numel());
        if (lo < hi) {
          plan.computeIfAbsent(s, k -> new ArrayList<>())
              .add(new Overlap(t.stateOffset() + lo - t.start(), lo - s.start(), hi - lo));
          covered += hi - lo;
        }
      }
      if (covered != t.numel()) {
        throw new IllegalArgumentException(
            "checkpoint manifest of tag "
                + m.tag()
                + " lists "
                + covered
                + " saved elements of parameter "
                + name
                + " in ["
                + t.start()
                + ", "
                + t.end()
                + "), expected "
                + t.numel()
                + " (overlapping or missing fragments): the manifest is corrupt");
      }
    }
    return plan;
  }

  // Streams every planned source tensor of each kind through the scratch buffer (file order, so
  // each file is read front to back) and writes its overlaps into the state.
  private void copy(
      Map<Source, List<Overlap>> plan,
      CheckpointFiles files,
      List<AdamState> kinds,
      Tensor scratch,
      ByteBuffer window) {
    PartitionedState state = engine.state();
    List<Source> order = new ArrayList<>(plan.keySet());
    order.sort(Comparator.comparingInt(Source::fileIndex).thenComparingInt(Source::position));
    for (Source s : order) {
      SafetensorsReader r = files.open(s.file());
      boolean model = s.file().equals(CheckpointDir.MODEL_FILE);
      for (AdamState kind : kinds) {
        String name =
            model
                ? s.param()
                : CheckpointDir.fragmentTensor(s.param(), s.start(), CheckpointDir.kind(kind));
        TensorEntry e = r.tensor(name);
        boolean floating =
            e.dtype() == TensorDtype.F32
                || (model && (e.dtype() == TensorDtype.BF16 || e.dtype() == TensorDtype.F16));
        if (!floating || e.numel() != s.numel()) {
          throw new IllegalArgumentException(
              r.file()
                  + ": tensor "
                  + e.name()
                  + " is "
                  + e
                  + ", expected "
                  + (model ? "F32, BF16 or F16" : "F32")
                  + " of "
                  + s.numel()
                  + " elements; the file does not match its manifest");
        }
        List<Overlap> overlaps = plan.get(s);
        try (Tensor typed = scratch.view(scalarType(e.dtype()))) {
          CheckpointFiles.stream(
              r,
              e,
              window,
              (off, bytes) -> scatter(state, kind, off, bytes.remaining(), overlaps, typed));
        }
      }
    }
  }

  // The chunk holds tensor bytes [off, off + length) at the start of the scratch buffer, which
  // `typed` views in the tensor's dtype; each overlap's part of it goes into the state as fp32.
  @SuppressWarnings("try")
  private static void scatter(
      PartitionedState state,
      AdamState kind,
      long off,
      int length,
      List<Overlap> overlaps,
      Tensor typed) {
    long size = typed.element_size();
    long first = off / size;
    long last = (off + length) / size;
    for (Overlap o : overlaps) {
      long lo = Math.max(first, o.srcElem());
      long hi = Math.min(last, o.srcElem() + o.numel());
      if (lo < hi) {
        try (PointerScope scope = new PointerScope()) {
          Tensor piece = typed.narrow(0, lo - first, hi - lo);
          Tensor fp32 =
              piece.scalar_type().value == torch.ScalarType.Float.value
                  ? piece
                  : piece.to(torch.ScalarType.Float);
          state.writeState(kind, o.dstElem() + lo - o.srcElem(), fp32);
        }
      }
    }
  }

  // Zeroes what the held fragments leave uncovered (all of it when none are given): the padding,
  // which must be zero as a fresh shard's is, or the moments of a load without optimizer state.
  @SuppressWarnings("try")
  private static void zeroRanges(
      PartitionedState state, List<AdamState> kinds, List<StateFragment> held) {
    List<StateFragment> sorted = new ArrayList<>(held);
    sorted.sort(Comparator.comparingLong(StateFragment::stateOffset));
    long size = state.stateNumel();
    long next = 0;
    try (Tensor zeros = torch.zeros(Math.max(1, Math.min(SCRATCH / 4, size)))) {
      for (int i = 0; i <= sorted.size(); i++) {
        long from = i < sorted.size() ? sorted.get(i).stateOffset() : size;
        for (long at = next; at < from; ) {
          long n = Math.min(zeros.numel(), from - at);
          try (Tensor part = zeros.narrow(0, 0, n)) {
            for (AdamState k : kinds) {
              state.writeState(k, at, part);
            }
          }
          at += n;
        }
        if (i < sorted.size()) {
          next = Math.max(next, from + sorted.get(i).numel());
        }
      }
    }
  }

  private void restoreRng(CheckpointManifest m, CheckpointFiles files) {
    int from = engine.comm().rank() % m.worldSize();
    SafetensorsReader r = files.open(CheckpointDir.optimizerFile(from));
    TensorEntry e = r.tensor(CheckpointDir.RNG_TENSOR);
    try (Tensor state = torch.empty(e.numel()).to(torch.ScalarType.Byte)) {
      CheckpointFiles.readInto(r, e, state, 0);
      RngState.restore(state);
    }
  }

  static torch.ScalarType scalarType(TensorDtype d) {
    return switch (d) {
      case F32 -> torch.ScalarType.Float;
      case BF16 -> torch.ScalarType.BFloat16;
      case F16 -> torch.ScalarType.Half;
      case F64 -> torch.ScalarType.Double;
      case I64 -> torch.ScalarType.Long;
      case U8 -> torch.ScalarType.Byte;
    };
  }
}
