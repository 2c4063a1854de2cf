using System.Text;
using System.Text.Json;
using Postern.Spool;

namespace Postern.Tests.Spool;

public sealed class MessageSpoolTests : IDisposable
{
    private readonly TempSpoolDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task Round_trip_keeps_envelope_and_bytes_exactly()
    {
        await using var spool = new MessageSpool(_dir.Path);
        string id = spool.NewQueueId();
        Envelope envelope = SpoolSamples.FullEnvelope(id);
        byte[] message = SpoolSamples.Message(300_000, seed: 1);

        await using (SpoolWriter writer = spool.CreateWriter(envelope))
        {
            // Small chunks as a session sends them, then one chunk larger than the write buffer.
            int offset = 0;
            for (; offset < 100_000; offset += 3000)
            {
                await writer.WriteAsync(message.AsMemory(offset, Math.Min(3000, 100_000 - offset)));
            }
            offset = 100_000;
            await writer.WriteAsync(message.AsMemory(offset, 150_000));
            await writer.WriteAsync(message.AsMemory(250_000));
            Assert.Equal(message.Length, writer.Length);
            await writer.CommitAsync();
        }

        Assert.Equal([id], spool.ListQueueIds());
        using SpoolMessage stored = spool.Open(id);
        Assert.Equal(Json(envelope), Json(stored.Envelope));
        Assert.Equal(DsnNotify.Success | DsnNotify.Failure, stored.Envelope.Recipients[0].Notify);
        Assert.Equal("josé@fabrikam.example", stored.Envelope.Recipients[1].Address);
        Assert.Equal(["mail.contoso.example", "*.contoso.example"], stored.Envelope.Tls!.PeerCertificateNames);
        Assert.Equal(message.Length, stored.ContentLength);
        var content = new MemoryStream();
        await stored.Content.CopyToAsync(content);
        Assert.Equal(message, content.ToArray());
    }

    [Fact]
    public async Task Entry_file_is_self_describing()
    {
        await using var spool = new MessageSpool(_dir.Path);
        byte[] message = "Subject: hi\r\n\r\nbody\r\n"u8.ToArray();
        string id = await SpoolSamples.CommitAsync(spool, message);

        byte[] file = await File.ReadAllBytesAsync(Path.Combine(_dir.Queue, id));
        string header = Encoding.ASCII.GetString(file, 0, 48);
        Assert.StartsWith("POSTERN-SPOOL 1 ", header);
        int envelopeLength = int.Parse(header.AsSpan(16, 10));
        Assert.Equal(message.Length, long.Parse(header.AsSpan(27, 20)));
        Assert.Equal('\n', header[47]);
        using JsonDocument json = JsonDocument.Parse(file.AsMemory(48, envelopeLength));
        Assert.Equal(id, json.RootElement.GetProperty("queueId").GetString());
        Assert.Equal((byte)'\n', file[48 + envelopeLength]);
        Assert.Equal(message, file[(48 + envelopeLength + 1)..]);
    }

    [Fact]
    public async Task Empty_message_and_large_envelope_round_trip()
    {
        await using var spool = new MessageSpool(_dir.Path);
        string id = spool.NewQueueId();
        Envelope envelope = SpoolSamples.Envelope(id, recipients: 3000); // JSON larger than the write buffer
        await using (SpoolWriter writer = spool.CreateWriter(envelope))
        {
            await writer.CommitAsync();
        }

        using SpoolMessage stored = spool.Open(id);
        Assert.Equal(3000, stored.Envelope.Recipients.Count);
        Assert.Equal("user2999@fabrikam.example", stored.Envelope.Recipients[2999].Address);
        Assert.Equal(0, stored.ContentLength);
        Assert.Equal(-1, stored.Content.ReadByte());
    }

    [Fact]
    public async Task Concurrent_commits_are_all_present_intact_and_unique()
    {
        const int Writers = 200;
        await using var spool = new MessageSpool(_dir.Path);
        string[] ids = await Task.WhenAll(Enumerable.Range(0, Writers).Select(i => Task.Run(
            () => SpoolSamples.CommitAsync(spool, SpoolSamples.Message(5000 + i, seed: i), chunk: 1500))));

        Assert.Equal(Writers, ids.Distinct().Count());
        IReadOnlyList<string> listed = spool.ListQueueIds();
        Assert.Equal(ids.Order(StringComparer.Ordinal), listed);
        for (int i = 0; i < Writers; i++)
        {
            Assert.Equal(SpoolSamples.Message(5000 + i, seed: i), SpoolSamples.ReadContent(spool, ids[i]));
        }
        Assert.Empty(Directory.EnumerateFileSystemEntries(_dir.Tmp));
        Assert.InRange(spool.QueueSync.SyncCount, 1, Writers);
    }

    [Fact]
    public async Task Dispose_or_abort_without_commit_leaves_nothing()
    {
        await using var spool = new MessageSpool(_dir.Path);
        await using (SpoolWriter writer = spool.CreateWriter(SpoolSamples.Envelope(spool.NewQueueId())))
        {
            await writer.WriteAsync(SpoolSamples.Message(100_000, seed: 2));
        }
        SpoolWriter aborted = spool.CreateWriter(SpoolSamples.Envelope(spool.NewQueueId()));
        await aborted.WriteAsync(new byte[10]);
        aborted.Abort();
        aborted.Abort();
        await Assert.ThrowsAsync<InvalidOperationException>(() => aborted.CommitAsync());

        Assert.Empty(spool.ListQueueIds());
        Assert.Empty(Directory.EnumerateFileSystemEntries(_dir.Tmp));
        Assert.Empty(Directory.EnumerateFileSystemEntries(_dir.Queue));
    }

    [Fact]
    public async Task Abort_after_commit_keeps_the_message()
    {
        await using var spool = new MessageSpool(_dir.Path);
        string id = spool.NewQueueId();
        SpoolWriter writer = spool.CreateWriter(SpoolSamples.Envelope(id));
        await writer.WriteAsync("x"u8.ToArray());
        await writer.CommitAsync();
        writer.Abort();
        await writer.DisposeAsync();
        await Assert.ThrowsAsync<InvalidOperationException>(async () => await writer.WriteAsync(new byte[1]));

        Assert.Equal("x"u8.ToArray(), SpoolSamples.ReadContent(spool, id));
    }

    [Fact]
    public async Task Entries_being_written_are_never_listed_or_opened()
    {
        await using var spool = new MessageSpool(_dir.Path);
        string id = spool.NewQueueId();
        await using SpoolWriter writer = spool.CreateWriter(SpoolSamples.Envelope(id));
        await writer.WriteAsync(SpoolSamples.Message(200_000, seed: 3));

        Assert.Empty(spool.ListQueueIds());
        Assert.Throws<FileNotFoundException>(() => spool.Open(id));
        Assert.Throws<InvalidOperationException>(() => spool.Recover());
    }

    [Fact]
    public async Task Recovery_removes_partial_entries_and_quarantines_damaged_ones()
    {
        string good, truncated, foreign;
        await using (var before = new MessageSpool(_dir.Path))
        {
            good = await SpoolSamples.CommitAsync(before, SpoolSamples.Message(20_000, seed: 4));
            truncated = await SpoolSamples.CommitAsync(before, SpoolSamples.Message(20_000, seed: 5));
            foreign = await SpoolSamples.CommitAsync(before, SpoolSamples.Message(100, seed: 6));

            // As left by a crash mid-message: a writer that never committed, its file still in tmp/.
            SpoolWriter crashed = before.CreateWriter(SpoolSamples.Envelope(before.NewQueueId()));
            await crashed.WriteAsync(SpoolSamples.Message(100_000, seed: 7));
            File.WriteAllBytes(Path.Combine(_dir.Tmp, "LEFTOVER"), [1, 2, 3]);
        }
        // Damage from outside the spool: a lost tail, and a file that is not an entry at all.
        using (var stream = new FileStream(Path.Combine(_dir.Queue, truncated), FileMode.Open))
        {
            stream.SetLength(stream.Length - 1);
        }
        File.WriteAllText(Path.Combine(_dir.Queue, foreign), "not a spool entry");

        await using var spool = new MessageSpool(_dir.Path);
        Assert.Throws<InvalidDataException>(() => spool.Open(truncated));
        SpoolRecovery recovery = spool.Recover();

        Assert.Equal(1, recovery.Messages);
        Assert.Equal(2, recovery.PartialEntriesRemoved);
        Assert.Equal(2, recovery.CorruptEntriesQuarantined);
        Assert.Empty(Directory.EnumerateFileSystemEntries(_dir.Tmp));
        Assert.Equal([good], spool.ListQueueIds());
        Assert.Equal(SpoolSamples.Message(20_000, seed: 4), SpoolSamples.ReadContent(spool, good));
        Assert.True(File.Exists(Path.Combine(_dir.Corrupt, truncated)));
        Assert.Equal("not a spool entry", File.ReadAllText(Path.Combine(_dir.Corrupt, foreign)));
    }

    [Fact]
    public async Task Delete_removes_a_committed_entry()
    {
        await using var spool = new MessageSpool(_dir.Path);
        string first = await SpoolSamples.CommitAsync(spool, [1]);
        string second = await SpoolSamples.CommitAsync(spool, [2]);
        string third = await SpoolSamples.CommitAsync(spool, [3]);

        spool.Delete(second);
        await spool.DeleteAsync(third);

        Assert.Equal([first], spool.ListQueueIds());
        Assert.Throws<FileNotFoundException>(() => spool.Open(second));
        Assert.Throws<ArgumentException>(() => spool.Delete("../queue"));
    }

    [Fact]
    public async Task Entries_survive_a_new_spool_instance_and_list_oldest_first()
    {
        var ids = new List<string>();
        await using (var first = new MessageSpool(_dir.Path))
        {
            for (int i = 0; i < 5; i++)
            {
                ids.Add(await SpoolSamples.CommitAsync(first, [(byte)i]));
            }
        }
        await using (var second = new MessageSpool(_dir.Path))
        {
            Assert.Equal(new SpoolRecovery(5, 0), second.Recover());
            ids.Add(await SpoolSamples.CommitAsync(second, [5]));
            IReadOnlyList<string> listed = second.ListQueueIds();
            // Oldest first: ids sort by time (9 characters, milliseconds), then by sequence within one
            // instance; two instances in the same millisecond are ordered by their random tags.
            Assert.Equal(ids.Take(5), listed.Where(id => id != ids[5]));
            Assert.Contains(ids[5], listed);
            Assert.True(string.CompareOrdinal(ids[5][..9], ids[4][..9]) >= 0, $"{ids[5]} sorts before {ids[4]} in time");
            for (int i = 0; i < ids.Count; i++)
            {
                Assert.Equal([(byte)i], SpoolSamples.ReadContent(second, ids[i]));
            }
        }
    }

    [Fact]
    public async Task Entry_is_created_in_the_queue_with_an_unfinished_header_until_commit()
    {
        await using var spool = new MessageSpool(_dir.Path);
        string id = spool.NewQueueId();
        await using SpoolWriter writer = spool.CreateWriter(SpoolSamples.Envelope(id));
        await writer.WriteAsync(SpoolSamples.Message(100_000, seed: 8)); // past the write buffer: on disk
        string path = Path.Combine(_dir.Queue, id);

        Assert.True(File.Exists(path));
        Assert.Equal(new string('-', 20), Encoding.ASCII.GetString(File.ReadAllBytes(path), 27, 20));
        Assert.Empty(spool.ListQueueIds());
        Assert.Throws<FileNotFoundException>(() => spool.Open(id));

        await writer.CommitAsync();
        Assert.Equal("00000000000000100000", Encoding.ASCII.GetString(File.ReadAllBytes(path), 27, 20));
        Assert.Equal([id], spool.ListQueueIds());
        Assert.Equal(SpoolSamples.Message(100_000, seed: 8), SpoolSamples.ReadContent(spool, id));
        Assert.Empty(Directory.EnumerateFileSystemEntries(_dir.Tmp));
    }

    [Fact]
    public async Task Unfinished_entries_left_by_a_crash_are_not_messages_and_recovery_removes_them()
    {
        string committed, crashed;
        await using (var before = new MessageSpool(_dir.Path))
        {
            committed = await SpoolSamples.CommitAsync(before, SpoolSamples.Message(10_000, seed: 9));
            crashed = before.CreateWriter(SpoolSamples.Envelope(before.NewQueueId())).QueueId;
            SpoolWriter writing = before.CreateWriter(SpoolSamples.Envelope(crashed + "X"));
            await writing.WriteAsync(SpoolSamples.Message(100_000, seed: 10));
        }
        // What a crash can leave besides: a file created but never written, one cut inside the header.
        string empty = "0EMPTY", cut = "0CUT";
        File.WriteAllBytes(Path.Combine(_dir.Queue, empty), []);
        File.WriteAllBytes(Path.Combine(_dir.Queue, cut), "POSTERN-SPOOL 1 00000"u8.ToArray());

        await using var spool = new MessageSpool(_dir.Path);
        foreach (string id in new[] { crashed, crashed + "X", empty, cut })
        {
            Assert.Throws<FileNotFoundException>(() => spool.Open(id));
        }
        SpoolRecovery recovery = spool.Recover();

        Assert.Equal(1, recovery.Messages);
        Assert.Equal(4, recovery.PartialEntriesRemoved);
        Assert.Equal(0, recovery.CorruptEntriesQuarantined);
        Assert.Equal([committed], spool.ListQueueIds());
        Assert.Equal([committed], Directory.EnumerateFiles(_dir.Queue).Select(Path.GetFileName));
        Assert.Empty(Directory.EnumerateFileSystemEntries(_dir.Corrupt));
        Assert.Equal(SpoolSamples.Message(10_000, seed: 9), SpoolSamples.ReadContent(spool, committed));
    }

    [Fact]
    public async Task Committed_entry_survives_a_new_spool_instance()
    {
        string id;
        await using (var before = new MessageSpool(_dir.Path))
        {
            id = await SpoolSamples.CommitAsync(before, SpoolSamples.Message(70_000, seed: 11), chunk: 8192);
        }
        await using var after = new MessageSpool(_dir.Path);
        Assert.Equal(new SpoolRecovery(1, 0), after.Recover());
        Assert.Equal([id], after.ListQueueIds());
        Assert.Equal(SpoolSamples.Message(70_000, seed: 11), SpoolSamples.ReadContent(after, id));
    }

    [Fact]
    public async Task Delete_leaves_an_entry_being_written_alone()
    {
        await using var spool = new MessageSpool(_dir.Path);
        string id = spool.NewQueueId();
        await using SpoolWriter writer = spool.CreateWriter(SpoolSamples.Envelope(id));
        await writer.WriteAsync("x"u8.ToArray());

        await spool.DeleteAsync(id);
        await writer.CommitAsync();

        Assert.Equal([id], spool.ListQueueIds());
        Assert.Equal("x"u8.ToArray(), SpoolSamples.ReadContent(spool, id));
    }

    [Fact]
    public async Task Create_writer_rejects_an_id_that_is_not_a_queue_id()
    {
        await using var spool = new MessageSpool(_dir.Path);
        Assert.Throws<ArgumentException>(() => spool.CreateWriter(SpoolSamples.Envelope("../escape")));
        Assert.Throws<ArgumentException>(() => spool.CreateWriter(SpoolSamples.Envelope("lower")));
    }

    private static string Json(Envelope envelope) => JsonSerializer.Serialize(envelope, SpoolJsonContext.Default.Envelope);

    [Fact]
    public async Task A_delivered_entry_is_kept_in_free_and_its_file_carries_the_next_message_exactly()
    {
        await using var spool = new MessageSpool(_dir.Path);
        byte[] large = Encoding.ASCII.GetBytes("Subject: large\r\n\r\n" + new string('x', 100_000) + "\r\n");
        string delivered = await SpoolSamples.CommitAsync(spool, large);
        await spool.DeleteAsync(delivered, hasState: false);
        Assert.False(File.Exists(Path.Combine(_dir.Queue, delivered)));
        Assert.Equal([delivered], Directory.GetFiles(_dir.Free).Select(Path.GetFileName));

        // The next entry takes that file: nothing of the larger message may remain in it.
        byte[] small = Encoding.ASCII.GetBytes("Subject: small\r\n\r\nhello\r\n");
        string next = await SpoolSamples.CommitAsync(spool, small);
        Assert.Empty(Directory.GetFiles(_dir.Free));
        Assert.Equal(small, SpoolSamples.ReadContent(spool, next));
        Assert.Equal([next], spool.ListQueueIds());
        using (SpoolMessage message = spool.Open(next))
        {
            Assert.Equal(next, message.Envelope.QueueId);
            Assert.Equal(small.Length, message.ContentLength);
        }

        // A reused entry is a message like any other after a restart; free/ is emptied then.
        string kept = await SpoolSamples.CommitAsync(spool, large);
        await spool.DeleteAsync(next, hasState: false);
        Assert.Single(Directory.GetFiles(_dir.Free));
        await using var restarted = new MessageSpool(_dir.Path);
        SpoolRecovery recovery = restarted.Recover();
        Assert.Equal(1, recovery.Messages);
        Assert.Equal(0, recovery.PartialEntriesRemoved);
        Assert.Empty(Directory.GetFiles(_dir.Free));
        Assert.Equal(large, SpoolSamples.ReadContent(restarted, kept));
    }

    [Fact]
    public async Task Free_keeps_a_bounded_number_of_files_and_admin_deletes_never_go_there()
    {
        await using var spool = new MessageSpool(_dir.Path);
        byte[] body = Encoding.ASCII.GetBytes("Subject: x\r\n\r\nbody\r\n");
        var ids = new List<string>();
        for (int i = 0; i < MessageSpool.MaxFreeFiles + 5; i++) ids.Add(await SpoolSamples.CommitAsync(spool, body));
        string adminDeleted = ids[^1];
        await spool.DeleteAsync(adminDeleted);
        foreach (string id in ids.Take(ids.Count - 1)) await spool.DeleteAsync(id, hasState: false);
        Assert.Equal(MessageSpool.MaxFreeFiles, Directory.GetFiles(_dir.Free).Length);
        Assert.DoesNotContain(adminDeleted, Directory.GetFiles(_dir.Free).Select(Path.GetFileName));
        Assert.Empty(Directory.GetFiles(_dir.Queue));
    }
}
