package org.zero4j.engine.checkpoint;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.bytedeco.javacpp.LongPointer;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.zero4j.engine.checkpoint.CheckpointManifest.FileInfo;
import org.zero4j.engine.checkpoint.CheckpointManifest.FragmentInfo;
import org.zero4j.zero.AdamState;
import org.zero4j.zero.NamedParameter;
import org.zero4j.zero.PartitionedState;
import org.zero4j.zero.StateFragment;
import org.zero4j.zero.comm.Collectives;

/**
 * Saves a checkpoint; every rank calls {@link #save} at the same point.
 *
 * <p>Note [save protocol]: (1) ranks agree on the tag; (2) rank 0 creates {@code
 * <dir>/.staging-<tag>/}; (3) each rank writes its optimizer fragments file and rank 0 the model
 * states, each durably (temporary name, fsync, rename, directory fsync); at stage 3 every rank
 * takes part in the model states, which are gathered one sharding unit at a time ({@link
 * ModelStates}); (4) the ranks gather their files' sizes and checksums and rank 0 writes the
 * manifest, last; (5) rank 0 renames the staging directory to {@code <dir>/<tag>/}; (6) after a
 * barrier, rank 0 rewrites {@code latest}. A crash before (5) leaves only a staging directory,
 * which the next save of that tag deletes; a crash between (5) and (6) leaves a complete new tag
 * that {@code latest} does not name yet. Either way {@code latest} still names the previous
 * complete checkpoint.
 *
 * <p>Everything is read through {@link PartitionedState}: optimizer state in ranges (in memory, in
 * host memory or in an NVMe swap file alike) and parameters streamed, so no stage-specific code
 * lives here.
 */
public final class CheckpointSaver {

  private static final int SLICE = 8 << 20;

  private final EngineSnapshot engine;
  private final SaveFaults faults;

  public CheckpointSaver(EngineSnapshot engine, SaveFaults faults) {
    this.engine = engine;
    this.faults = faults;
  }

  /**
   * Saves under {@code tag} (null: {@code global_step<N>}) in {@code dir} and returns the tag
   * directory. Collective.
   */
  public Path save(Path dir, String tag, Map<String, Object> clientState, SamplerPosition sampler) {
    Collectives comm = engine.comm();
    int rank = comm.rank();
    String t =
        TagAgreement.agree(
            comm,
            CheckpointDir.checkTag(
                tag == null ? "global_step" + engine.steps().globalSteps() : tag),
            engine.config().checkpoint().tagValidation());
    Path staging = CheckpointDir.staging(dir, t);
    if (rank == 0) {
      try {
        Files.createDirectories(dir);
        DurableFiles.deleteTree(staging);
        Files.createDirectories(staging);
      } catch (IOException e) {
        throw new UncheckedIOException("cannot create " + staging + ": " + e.getMessage(), e);
      }
    }
    comm.barrier();
    faults.at(SavePhase.BEFORE_DATA, rank);
    SafetensorsWriter.Written mine = writeOptimizerFile(staging, rank);
    SafetensorsWriter.Written model =
        ModelStates.write(
            staging.resolve(CheckpointDir.MODEL_FILE),
            engine.state(),
            dtypeOf(engine.config().precision()),
            rank,
            Map.of());
    faults.at(SavePhase.BEFORE_MANIFEST, rank);
    long[] records = gather(comm, mine);
    Path tagDir = dir.resolve(t);
    if (rank == 0) {
      CheckpointManifest m = manifest(t, records, model, clientState, sampler);
      DurableFiles.write(staging.resolve(CheckpointManifest.FILE_NAME), m.toJson());
      Path aside = CheckpointDir.replaced(dir, t);
      DurableFiles.deleteTree(aside);
      if (Files.exists(tagDir)) {
        DurableFiles.renameDirectory(tagDir, aside);
      }
      DurableFiles.renameDirectory(staging, tagDir);
    }
    comm.barrier();
    faults.at(SavePhase.BEFORE_LATEST, rank);
    comm.barrier();
    if (rank == 0) {
      DurableFiles.write(dir.resolve(CheckpointDir.LATEST), t.getBytes(StandardCharsets.UTF_8));
      DurableFiles.deleteTree(CheckpointDir.replaced(dir, t));
    }
    comm.barrier();
    return tagDir;
  }

  private SafetensorsWriter.Written writeOptimizerFile(Path staging, int rank) {
    PartitionedState state = engine.state();
    List<NamedParameter> params = state.parameters();
    List<StateFragment> fragments = state.savedFragments(rank);
    List<TensorEntry> entries = new ArrayList<>();
    for (StateFragment f : fragments) {
      String name = params.get(f.param()).name();
      for (AdamState kind : AdamState.values()) {
        entries.add(
            TensorEntry.of(
                CheckpointDir.fragmentTensor(name, f.start(), CheckpointDir.kind(kind)),
                TensorDtype.F32,
                f.numel()));
      }
    }
    int stateTensors = entries.size();
    try (Tensor rng = RngState.capture();
        Tensor slice = torch.empty(Math.min(SLICE / 4, Math.max(1, state.stateNumel())))) {
      entries.add(TensorEntry.of(CheckpointDir.RNG_TENSOR, TensorDtype.U8, rng.numel()));
      Map<String, String> meta = new LinkedHashMap<>();
      meta.put("format", "zero4j-optimizer-fragments");
      meta.put("rank", Integer.toString(rank));
      // Note [tensor checksums in the header]: each tensor's CRC-32C goes into __metadata__ (see
      // SafetensorsWriter), so a shard verifies itself and a loader that reads only some tensors
      // still checks every byte it uses. ModelStates records them the same way.
      try (SafetensorsWriter w =
          SafetensorsWriter.create(
              staging.resolve(CheckpointDir.optimizerFile(rank)), entries, meta, true)) {
        for (int i = 0; i < stateTensors; i++) {
          if (i == entries.size() / 2) {
            faults.at(SavePhase.MID_DATA, rank);
          }
          int kinds = AdamState.values().length; // entries are fragment-major, as built above
          streamFragment(state, AdamState.values()[i % kinds], fragments.get(i / kinds), slice, w);
        }
        ModelStates.slices(rng, rng.nbytes(), w);
        return w.commit();
      }
    }
  }

  // Streams one fragment of one state tensor through the bounded fp32 slice (with NVMe offload the
  // state is read from the swap file range by range).
  private static void streamFragment(
      PartitionedState state, AdamState kind, StateFragment f, Tensor slice, SafetensorsWriter w) {
    long cap = slice.numel();
    for (long done = 0; done < f.numel(); ) {
      long n = Math.min(cap, f.numel() - done);
      try (Tensor part = slice.narrow(0, 0, n)) {
        state.readState(kind, f.stateOffset() + done, part);
        w.write(NativeBytes.window(part, 0, (int) (n * 4)));
      }
      done += n;
    }
  }

  private static long[] gather(Collectives comm, SafetensorsWriter.Written mine) {
    int world = comm.worldSize();
    long[] all = new long[2 * world];
    try (Tensor in = torch.empty(2).to(torch.ScalarType.Long);
        Tensor out = torch.empty(2L * world).to(torch.ScalarType.Long)) {
      new LongPointer(in.data_ptr()).put(new long[] {mine.bytes(), mine.headerCrc32c()});
      comm.allGather(out, in).await();
      new LongPointer(out.data_ptr()).get(all);
    }
    return all;
  }

  private CheckpointManifest manifest(
      String tag,
      long[] records,
      SafetensorsWriter.Written model,
      Map<String, Object> clientState,
      SamplerPosition sampler) {
    PartitionedState state = engine.state();
    List<NamedParameter> params = state.parameters();
    int world = engine.comm().worldSize();
    List<CheckpointManifest.ParamInfo> infos = new ArrayList<>();
    for (int i = 0; i < params.size(); i++) {
      List<Long> shape = new ArrayList<>();
      long numel = 1;
      for (long d : state.shape(i)) {
        shape.add(d);
        numel *= d;
      }
      infos.add(new CheckpointManifest.ParamInfo(params.get(i).name(), shape, numel));
    }
    List<CheckpointManifest.BucketInfo> buckets = new ArrayList<>();
    long flatNumel = 0;
    for (PartitionedState.Block b : state.blocks()) {
      buckets.add(
          new CheckpointManifest.BucketInfo(b.name(), b.start(), b.numel(), b.paddedNumel()));
      flatNumel += b.paddedNumel();
    }
    List<FileInfo> files = new ArrayList<>();
    files.add(
        new FileInfo(
            CheckpointDir.MODEL_FILE,
            -1,
            model.bytes(),
            CheckpointManifest.hex(model.headerCrc32c()),
            List.of()));
    for (int r = 0; r < world; r++) {
      List<FragmentInfo> frags = new ArrayList<>();
      for (StateFragment f : state.savedFragments(r)) {
        frags.add(new FragmentInfo(params.get(f.param()).name(), f.start(), f.numel()));
      }
      files.add(
          new FileInfo(
              CheckpointDir.optimizerFile(r),
              r,
              records[2 * r],
              CheckpointManifest.hex(records[2 * r + 1]),
              frags));
    }
    JsonNode config;
    try {
      config = CheckpointManifest.JSON.readTree(engine.config().toPrettyJson());
    } catch (IOException e) {
      throw new IllegalStateException("the engine config does not render as JSON", e);
    }
    return new CheckpointManifest(
        CheckpointManifest.FORMAT,
        CheckpointManifest.VERSION,
        tag,
        world,
        state.stage(),
        engine.config().precision().name().toLowerCase(java.util.Locale.ROOT),
        engine.steps(),
        engine.scaler(),
        engine.scheduler(),
        sampler,
        clientState == null ? Map.of() : clientState,
        config,
        infos,
        new CheckpointManifest.Partition(
            world, engine.config().zero().reduceBucketSize(), flatNumel, buckets),
        files);
  }

  /**
   * Streams the working weights to {@code file} on rank 0 (Engine's {@code save16bitModel}); every
   * rank calls it.
   */
  public static void save16bitModel(
      Path file, PartitionedState state, org.zero4j.zero.Precision precision, int rank) {
    ModelStates.write(file, state, dtypeOf(precision), rank, Map.of());
  }

  static TensorDtype dtypeOf(org.zero4j.zero.Precision p) {
    return switch (p) {
      case FP32 -> TensorDtype.F32;
      case BF16 -> TensorDtype.BF16;
      case FP16 -> TensorDtype.F16;
    };
  }
}
