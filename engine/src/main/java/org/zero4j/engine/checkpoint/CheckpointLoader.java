package org.zero4j.engine.checkpoint;

import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.zero4j.engine.checkpoint.CheckpointManifest.FileInfo;
import org.zero4j.engine.checkpoint.CheckpointManifest.FragmentInfo;
import org.zero4j.zero.NamedParameter;
import org.zero4j.zero.ZeroOptimizer;

/**
 * Loads a checkpoint's tensors into a running engine; every rank calls {@link #load} at the same
 * point. The engine's scalar state (counters, loss scaler, schedule) is restored by the engine from
 * the returned manifest.
 *
 * <p>With optimizer states, each rank computes the fragments its own layout needs (its chunk of
 * every bucket at stages 1-2, everything at stage 0) and copies the overlapping element ranges of
 * the saved fragments (Note [checkpoints store fragments, not shards]): any saved world size,
 * bucket size or stage 0-2 loads into any other. Each saved fragment a rank touches is read whole
 * once, to verify its checksum. The working parameters are then rebuilt from the fp32 masters, as
 * after a step. With {@code zero_optimization.load_from_fp32_weights: false} the masters are
 * instead re-derived from the model states file's (16-bit) weights, as in DeepSpeed. Without
 * optimizer states (or module only), the model states file's weights are loaded and the masters
 * re-derived from them, with zero moments.
 *
 * <p>A load that fails part-way (a corrupt file) leaves the engine's tensors partly overwritten;
 * load a good checkpoint before training on.
 */
public final class CheckpointLoader {

  private static final int SCRATCH = 8 << 20;

  // position: the fragment's index in its file, which is its order on disk
  private record Saved(int fileIndex, int position, FileInfo file, FragmentInfo fragment) {}

  private record Overlap(long dstElem, long srcElem, long numel) {}

  private final EngineSnapshot engine;

  public CheckpointLoader(EngineSnapshot engine) {
    this.engine = engine;
  }

  /** Loads {@code tag} (null: the latest) from {@code dir}; returns its manifest. Collective. */
  public CheckpointManifest load(
      Path dir, String tag, boolean loadOptimizerStates, boolean loadModuleOnly) {
    engine.refuseUnsupported("loading a checkpoint");
    Path tagDir = CheckpointDir.resolve(dir, tag);
    CheckpointManifest m = CheckpointManifest.read(tagDir);
    checkParameters(m, tagDir);
    ZeroOptimizer zero = engine.zero();
    ByteBuffer scratch = ByteBuffer.allocateDirect(SCRATCH);
    try (CheckpointFiles files = new CheckpointFiles(tagDir, m)) {
      if (loadModuleOnly || !loadOptimizerStates) {
        loadModel(files.open(CheckpointDir.MODEL_FILE));
        zero.refreshMasterFromWorking();
        for (Tensor t : zero.moments()) {
          t.zero_();
        }
      } else if (engine.config().zero().loadFromFp32Weights()) {
        loadFragments(m, files, scratch, 0);
        zero.refreshWorkingFromMaster();
      } else {
        // load_from_fp32_weights=false: moments from the checkpoint, masters from the 16-bit model
        loadFragments(m, files, scratch, 1);
        loadModel(files.open(CheckpointDir.MODEL_FILE));
        zero.refreshMasterFromWorking();
      }
      if (!loadModuleOnly) {
        restoreRng(m, files);
      }
    }
    return m;
  }

  private void checkParameters(CheckpointManifest m, Path tagDir) {
    List<NamedParameter> params = engine.zero().parameters();
    List<CheckpointManifest.ParamInfo> saved = m.parameters();
    for (int i = 0; i < Math.max(params.size(), saved.size()); i++) {
      String mine = i < params.size() ? describe(params.get(i)) : "nothing";
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

  private static String describe(NamedParameter p) {
    return p.name() + " " + Arrays.toString(p.tensor().sizes().vec().get());
  }

  private void loadModel(SafetensorsReader r) {
    for (NamedParameter p : engine.zero().parameters()) {
      TensorEntry e = r.tensor(p.name());
      Tensor dest = p.tensor();
      if (e.numel() != dest.numel()) {
        throw new IllegalArgumentException(
            r.file()
                + ": tensor "
                + p.name()
                + " has "
                + e.numel()
                + " elements, expected "
                + dest.numel());
      }
      boolean sameType = dest.scalar_type().value == scalarType(e.dtype()).value;
      try (Tensor target = sameType ? null : torch.empty(dest.numel()).to(scalarType(e.dtype()))) {
        CheckpointFiles.readInto(r, e, sameType ? dest : target, 0);
        if (!sameType) {
          dest.view(-1).copy_(target);
        }
      }
    }
  }

  // Loads the fragment tensors from KINDS[firstKind] on (0: masters and moments, 1: moments).
  private void loadFragments(
      CheckpointManifest m, CheckpointFiles files, ByteBuffer scratch, int firstKind) {
    ZeroOptimizer zero = engine.zero();
    int stage = zero.options().stage();
    List<NamedParameter> params = zero.parameters();
    List<Tensor> dests = List.of(zero.masterShard(), zero.moments().get(0), zero.moments().get(1));
    Map<String, List<Saved>> byParam = new LinkedHashMap<>();
    for (int i = 0; i < m.files().size(); i++) {
      FileInfo f = m.files().get(i);
      for (int j = 0; j < f.fragments().size(); j++) {
        FragmentInfo frag = f.fragments().get(j);
        byParam.computeIfAbsent(frag.param(), k -> new ArrayList<>()).add(new Saved(i, j, f, frag));
      }
    }
    List<ParamFragment> targets =
        stage == 0
            ? ParamFragment.whole(zero.layout())
            : ParamFragment.owned(zero.layout(), engine.comm().rank());
    zeroGaps(dests, targets, stage);
    Map<Saved, List<Overlap>> plan = new LinkedHashMap<>();
    for (ParamFragment t : targets) {
      String name = params.get(t.param()).name();
      long covered = 0;
      for (Saved s : byParam.getOrDefault(name, List.of())) {
        long lo = Math.max(t.start(), s.fragment().start());
        long hi = Math.min(t.end(), s.fragment().start() + s.fragment().numel());
        if (lo < hi) {
          plan.computeIfAbsent(s, k -> new ArrayList<>())
              .add(
                  new Overlap(
                      t.offsetInMaster(stage) + lo - t.start(),
                      lo - s.fragment().start(),
                      hi - lo));
          covered += hi - lo;
        }
      }
      if (covered != t.numel()) {
        throw new IllegalArgumentException(
            "checkpoint manifest lists "
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
    List<Saved> order = new ArrayList<>(plan.keySet());
    // file order, so each file is read front to back and the kernel's read-ahead works
    order.sort(Comparator.comparingInt(Saved::fileIndex).thenComparingInt(Saved::position));
    for (Saved s : order) {
      SafetensorsReader r = files.open(s.file().name());
      for (int k = firstKind; k < CheckpointDir.KINDS.length; k++) {
        TensorEntry e =
            r.tensor(
                CheckpointDir.fragmentTensor(
                    s.fragment().param(), s.fragment().start(), CheckpointDir.KINDS[k]));
        if (e.dtype() != TensorDtype.F32 || e.numel() != s.fragment().numel()) {
          throw new IllegalArgumentException(
              r.file()
                  + ": tensor "
                  + e.name()
                  + " is "
                  + e
                  + ", expected F32 of "
                  + s.fragment().numel()
                  + " elements; the file does not match its manifest");
        }
        Tensor dest = dests.get(k);
        List<Overlap> overlaps = plan.get(s);
        Overlap first = overlaps.get(0);
        if (overlaps.size() == 1 && first.srcElem() == 0 && first.numel() == e.numel()) {
          CheckpointFiles.readInto(r, e, dest, first.dstElem() * 4); // same layout: no copy
        } else {
          CheckpointFiles.stream(
              r, e, scratch, (off, bytes) -> scatter(off, bytes, overlaps, dest));
        }
      }
    }
  }

  // Padding is all the targets leave uncovered; it must be zero, as a fresh shard's is.
  private static void zeroGaps(List<Tensor> dests, List<ParamFragment> targets, int stage) {
    List<ParamFragment> sorted = new ArrayList<>(targets);
    sorted.sort(Comparator.comparingLong(f -> f.offsetInMaster(stage)));
    long next = 0;
    long size = dests.get(0).numel();
    for (int i = 0; i <= sorted.size(); i++) {
      long from = i < sorted.size() ? sorted.get(i).offsetInMaster(stage) : size;
      if (from > next) {
        for (Tensor t : dests) {
          try (Tensor gap = t.narrow(0, next, from - next)) {
            gap.zero_();
          }
        }
      }
      if (i < sorted.size()) {
        next = Math.max(next, from + sorted.get(i).numel());
      }
    }
  }

  // Copies the part of a chunk (tensor bytes [off, off + remaining)) that falls in each overlap.
  private static void scatter(long off, ByteBuffer bytes, List<Overlap> overlaps, Tensor dest) {
    long end = off + bytes.remaining();
    for (Overlap o : overlaps) {
      long lo = Math.max(off, o.srcElem() * 4);
      long hi = Math.min(end, (o.srcElem() + o.numel()) * 4);
      if (lo < hi) {
        int n = (int) (hi - lo);
        ByteBuffer piece = bytes.slice(bytes.position() + (int) (lo - off), n);
        NativeBytes.window(dest, o.dstElem() * 4 + (lo - o.srcElem() * 4), n).put(piece);
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
