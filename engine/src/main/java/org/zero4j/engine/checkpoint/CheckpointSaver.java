package org.zero4j.engine.checkpoint;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
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
import org.zero4j.zero.NamedParameter;
import org.zero4j.zero.ShardLayout;
import org.zero4j.zero.ZeroOptimizer;
import org.zero4j.zero.comm.Collectives;

/**
 * Saves a checkpoint; every rank calls {@link #save} at the same point.
 *
 * <p>Note [save protocol]: (1) ranks agree on the tag; (2) rank 0 creates {@code
 * <dir>/.staging-<tag>/}; (3) each rank writes its optimizer fragments file and rank 0 the model
 * states, each durably (temporary name, fsync, rename, directory fsync); (4) the ranks gather their
 * files' sizes and checksums and rank 0 writes the manifest, last; (5) rank 0 renames the staging
 * directory to {@code <dir>/<tag>/}; (6) after a barrier, rank 0 rewrites {@code latest}. A crash
 * before (5) leaves only a staging directory, which the next save of that tag deletes; a crash
 * between (5) and (6) leaves a complete new tag that {@code latest} does not name yet. Either way
 * {@code latest} still names the previous complete checkpoint.
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
    engine.refuseUnsupported("saving a checkpoint");
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
    SafetensorsWriter.Written model = rank == 0 ? writeModelFile(staging) : null;
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
    ZeroOptimizer zero = engine.zero();
    int stage = zero.options().stage();
    List<NamedParameter> params = zero.parameters();
    List<Tensor> sources =
        List.of(zero.masterShard(), zero.moments().get(0), zero.moments().get(1));
    List<ParamFragment> fragments = ParamFragment.owned(zero.layout(), rank);
    List<TensorEntry> entries = new ArrayList<>();
    List<Tensor> data = new ArrayList<>();
    List<Long> offsets = new ArrayList<>();
    for (ParamFragment f : fragments) {
      String name = params.get(f.param()).name();
      for (int k = 0; k < CheckpointDir.KINDS.length; k++) {
        entries.add(
            TensorEntry.of(
                CheckpointDir.fragmentTensor(name, f.start(), CheckpointDir.KINDS[k]),
                TensorDtype.F32,
                f.numel()));
        data.add(sources.get(k));
        offsets.add(f.offsetInMaster(stage) * 4);
      }
    }
    try (Tensor rng = RngState.capture()) {
      entries.add(TensorEntry.of(CheckpointDir.RNG_TENSOR, TensorDtype.U8, rng.numel()));
      data.add(rng);
      offsets.add(0L);
      Map<String, String> meta = new LinkedHashMap<>();
      meta.put("format", "zero4j-optimizer-fragments");
      meta.put("rank", Integer.toString(rank));
      int half = entries.size() / 2;
      return write(
          staging.resolve(CheckpointDir.optimizerFile(rank)),
          entries,
          data,
          offsets,
          meta,
          i -> {
            if (i == half) {
              faults.at(SavePhase.MID_DATA, rank);
            }
          });
    }
  }

  private SafetensorsWriter.Written writeModelFile(Path staging) {
    List<TensorEntry> entries = new ArrayList<>();
    List<Tensor> data = new ArrayList<>();
    List<Long> offsets = new ArrayList<>();
    TensorDtype dtype = dtypeOf(engine.config().precision());
    for (NamedParameter p : engine.zero().parameters()) {
      entries.add(TensorEntry.of(p.name(), dtype, p.tensor().sizes().vec().get()));
      data.add(p.tensor());
      offsets.add(0L);
    }
    Map<String, String> meta = new LinkedHashMap<>();
    meta.put("format", "pt");
    return write(staging.resolve(CheckpointDir.MODEL_FILE), entries, data, offsets, meta, i -> {});
  }

  private static SafetensorsWriter.Written write(
      Path file,
      List<TensorEntry> entries,
      List<Tensor> data,
      List<Long> offsets,
      Map<String, String> meta,
      java.util.function.IntConsumer beforeTensor) {
    // Note [tensor checksums in the header]: each tensor's CRC-32C goes into __metadata__ (see
    // SafetensorsWriter), so a shard verifies itself and a loader that reads only some tensors
    // still checks every byte it uses.
    try (SafetensorsWriter w = SafetensorsWriter.create(file, entries, meta, true)) {
      for (int i = 0; i < entries.size(); i++) {
        beforeTensor.accept(i);
        forEachSlice(data.get(i), offsets.get(i), entries.get(i).byteSize(), w::write);
      }
      return w.commit();
    }
  }

  private static void forEachSlice(
      Tensor t, long offset, long length, java.util.function.Consumer<ByteBuffer> sink) {
    for (long done = 0; done < length; ) {
      int n = (int) Math.min(SLICE, length - done);
      sink.accept(NativeBytes.window(t, offset + done, n));
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
    ZeroOptimizer zero = engine.zero();
    ShardLayout layout = zero.layout();
    List<NamedParameter> params = zero.parameters();
    List<CheckpointManifest.ParamInfo> infos = new ArrayList<>();
    for (NamedParameter p : params) {
      List<Long> shape = new ArrayList<>();
      for (long d : p.tensor().sizes().vec().get()) {
        shape.add(d);
      }
      infos.add(new CheckpointManifest.ParamInfo(p.name(), shape, p.tensor().numel()));
    }
    List<CheckpointManifest.BucketInfo> buckets = new ArrayList<>();
    for (ShardLayout.Bucket b : layout.buckets()) {
      buckets.add(new CheckpointManifest.BucketInfo(b.start(), b.numel(), b.paddedNumel()));
    }
    List<FileInfo> files = new ArrayList<>();
    files.add(
        new FileInfo(
            CheckpointDir.MODEL_FILE,
            -1,
            model.bytes(),
            CheckpointManifest.hex(model.headerCrc32c()),
            List.of()));
    for (int r = 0; r < layout.worldSize(); r++) {
      List<FragmentInfo> frags = new ArrayList<>();
      for (ParamFragment f : ParamFragment.owned(layout, r)) {
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
        layout.worldSize(),
        zero.options().stage(),
        engine.config().precision().name().toLowerCase(java.util.Locale.ROOT),
        engine.steps(),
        engine.scaler(),
        engine.scheduler(),
        sampler,
        clientState == null ? Map.of() : clientState,
        config,
        infos,
        new CheckpointManifest.Partition(
            layout.worldSize(), zero.options().reduceBucketNumel(), layout.flatNumel(), buckets),
        files);
  }

  static TensorDtype dtypeOf(org.zero4j.zero.Precision p) {
    return switch (p) {
      case FP32 -> TensorDtype.F32;
      case BF16 -> TensorDtype.BF16;
      case FP16 -> TensorDtype.F16;
    };
  }
}
