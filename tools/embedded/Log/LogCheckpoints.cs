using CtMparticle.Storage;

namespace CtMparticle.Embedded.Log;

/// <summary>A named checkpoint's value as set (<see cref="ICheckpointStore"/>), naming the record it replaces.</summary>
internal sealed record CheckpointRecord(long Previous, string Name, string Value)
{
    public const byte Kind = 8;

    public ReadOnlyMemory<byte> Encode() => RecordCodec.Encode(Previous, forgotten: false, writer =>
    {
        writer.Write(Name);
        writer.Write(Value);
    });

    public static CheckpointRecord Decode(ReadOnlySpan<byte> payload) =>
        RecordCodec.Decode(payload, static (long previous, bool _, ref PayloadCursor reader) => new CheckpointRecord(previous, reader.String(), reader.String()));
}

/// <summary>
/// The checkpoints (<see cref="ICheckpointStore"/>: the store's layout, the consent reconciler's place) on the log: a
/// handful of names, each value held in memory with the address of its record.
/// </summary>
internal sealed class LogCheckpoints(LogCore core) : ICheckpointStore
{
    private readonly Dictionary<string, (string Value, long Address)> values = new(StringComparer.Ordinal);

    /// <summary>A committed record of this store's kind, at open.</summary>
    public void Replay(LogRecord record) => Apply(CheckpointRecord.Decode(record.Payload.Span), record.Address, replaying: true);

    public Task<string?> GetAsync(string name, CancellationToken cancellationToken) =>
        core.Locked(() => values.TryGetValue(name, out var found) ? found.Value : null, cancellationToken);

    public Task SetAsync(string name, string value, CancellationToken cancellationToken) => core.Changing(() =>
    {
        var record = new CheckpointRecord(values.TryGetValue(name, out var found) ? found.Address : 0, name, value);
        Apply(record, core.Append(CheckpointRecord.Kind, record.Encode().Span), replaying: false);
        return true;
    }, cancellationToken);

    /// <summary>Writes each checkpoint's value to a compaction of the log.</summary>
    public void CopyLive(LogCompaction to)
    {
        foreach (var (name, (value, _)) in values)
        {
            to.Append(CheckpointRecord.Kind, new CheckpointRecord(0, name, value).Encode().Span);
        }
    }

    private void Apply(CheckpointRecord record, long address, bool replaying)
    {
        var had = values.TryGetValue(record.Name, out var before);
        if ((had ? before.Address : 0) != record.Previous)
        {
            throw new InvalidDataException($"The state log names a record at {record.Previous} that is not checkpoint {record.Name}'s newest.");
        }

        values[record.Name] = (record.Value, address);
        if (!replaying)
        {
            core.Remember(() =>
            {
                if (had)
                {
                    values[record.Name] = before;
                }
                else
                {
                    values.Remove(record.Name);
                }
            });
        }
    }
}
