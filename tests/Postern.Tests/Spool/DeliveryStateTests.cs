using System.Text;
using Postern.Smtp;
using Postern.Spool;

namespace Postern.Tests.Spool;

public sealed class DeliveryStateTests : IDisposable
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 29, 1, 2, 3, TimeSpan.Zero);
    private readonly TempSpoolDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private string StateDir => Path.Combine(_dir.Path, "state");

    [Fact]
    public async Task Missing_state_is_all_pending_from_the_envelope()
    {
        await using var spool = new MessageSpool(_dir.Path);
        string id = await SpoolSamples.CommitAsync(spool, Encoding.ASCII.GetBytes("Subject: x\r\n\r\nbody\r\n"));
        // CommitAsync uses a 1-recipient envelope.
        DeliveryState state = spool.DeliveryStates.Load(id);
        Assert.Equal(id, state.QueueId);
        Assert.Null(state.FirstAttemptAt);
        RecipientDeliveryState r = Assert.Single(state.Recipients);
        Assert.Equal("user0@fabrikam.example", r.Address);
        Assert.Equal(RecipientStatus.Pending, r.Status);
        Assert.Equal(0, r.Attempts);
        Assert.False(state.IsComplete);
        Assert.False(File.Exists(Path.Combine(StateDir, id)));
    }

    [Fact]
    public async Task State_round_trips_every_field()
    {
        await using var spool = new MessageSpool(_dir.Path);
        string id = await CommitAsync(spool, recipients: 3);
        DeliveryState state = Sample(spool.DeliveryStates.Load(id));
        await spool.DeliveryStates.SaveAsync(state);

        await using var reopened = new MessageSpool(_dir.Path);
        DeliveryState loaded = reopened.DeliveryStates.Load(id);
        Assert.Equal(state.QueueId, loaded.QueueId);
        Assert.Equal(state.FirstAttemptAt, loaded.FirstAttemptAt);
        Assert.Equal(state.UpdatedAt, loaded.UpdatedAt);
        Assert.Equal(state.Recipients, loaded.Recipients);
        RecipientDeliveryState deferred = loaded.Recipients[1];
        Assert.Equal(RecipientStatus.Deferred, deferred.Status);
        Assert.Equal(3, deferred.Attempts);
        Assert.Equal(T0.AddMinutes(30), deferred.LastAttemptAt);
        Assert.Equal(T0.AddMinutes(60), deferred.NextAttemptAt);
        Assert.Equal(454, deferred.LastReply!.Code);
        Assert.Equal("4.7.4", deferred.LastReply.EnhancedStatus);
        Assert.True(deferred.LastReply.IsLocal);
        Assert.Equal("mail.contoso.example [192.0.2.25]", deferred.RemoteMta);
        Assert.Equal("To Contoso", deferred.Connector);
        Assert.True(deferred.DelayNotified);
        Assert.True(loaded.Recipients[0].IsFinal);
        Assert.False(loaded.IsComplete);
    }

    [Fact]
    public async Task State_file_is_readable_text_with_a_header()
    {
        await using var spool = new MessageSpool(_dir.Path);
        string id = await CommitAsync(spool, recipients: 3);
        await spool.DeliveryStates.SaveAsync(Sample(spool.DeliveryStates.Load(id)));
        string text = File.ReadAllText(Path.Combine(StateDir, id));
        Assert.StartsWith("POSTERN-STATE 1\n{\"queueId\":\"" + id + "\"", text, StringComparison.Ordinal);
        Assert.Contains("\"status\":\"Deferred\"", text, StringComparison.Ordinal);
        Assert.EndsWith("}\n", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Save_replaces_the_previous_state_and_a_leftover_temp_file_is_ignored()
    {
        await using var spool = new MessageSpool(_dir.Path);
        string id = await CommitAsync(spool, recipients: 3);
        DeliveryState first = spool.DeliveryStates.Load(id);
        await spool.DeliveryStates.SaveAsync(first with { FirstAttemptAt = T0 });
        DeliveryState second = Sample(first);
        await spool.DeliveryStates.SaveAsync(second);
        Assert.Equal(second.Recipients, spool.DeliveryStates.Load(id).Recipients);

        // A crash after writing a temp file but before its rename: the old state stays in force.
        File.WriteAllText(Path.Combine(StateDir, id + ".99.tmp"), "POSTERN-STATE 1\n{\"queueId\":\"" + id + "\",\"recip");
        Assert.Equal(second.Recipients, spool.DeliveryStates.Load(id).Recipients);
        Assert.Single(Directory.GetFiles(StateDir), p => !p.EndsWith(".tmp", StringComparison.Ordinal));

        await using var restarted = new MessageSpool(_dir.Path);
        SpoolRecovery recovery = restarted.Recover();
        Assert.Equal(0, recovery.OrphanStatesRemoved);
        Assert.Equal([Path.Combine(StateDir, id)], Directory.GetFiles(StateDir));
        Assert.Equal(second.Recipients, restarted.DeliveryStates.Load(id).Recipients);
    }

    [Fact]
    public async Task Recovery_removes_a_state_without_an_entry_and_keeps_entries_without_state_pending()
    {
        string orphan, keptWithState, keptWithoutState;
        await using (var spool = new MessageSpool(_dir.Path))
        {
            orphan = await CommitAsync(spool, recipients: 2);
            keptWithState = await CommitAsync(spool, recipients: 2);
            keptWithoutState = await CommitAsync(spool, recipients: 2);
            await spool.DeliveryStates.SaveAsync(Delivered(spool.DeliveryStates.Load(orphan), 0));
            await spool.DeliveryStates.SaveAsync(Delivered(spool.DeliveryStates.Load(keptWithState), 1));
            // The entry vanished but its state did not (a crash between the two removals).
            File.Delete(Path.Combine(_dir.Queue, orphan));
        }

        await using var restarted = new MessageSpool(_dir.Path);
        SpoolRecovery recovery = restarted.Recover();
        Assert.Equal(2, recovery.Messages);
        Assert.Equal(1, recovery.OrphanStatesRemoved);
        Assert.False(File.Exists(Path.Combine(StateDir, orphan)));
        Assert.Equal(RecipientStatus.Delivered, restarted.DeliveryStates.Load(keptWithState).Recipients[1].Status);
        Assert.All(restarted.DeliveryStates.Load(keptWithoutState).Recipients, r => Assert.Equal(RecipientStatus.Pending, r.Status));
    }

    [Fact]
    public async Task A_damaged_state_is_quarantined_and_its_recipients_start_pending()
    {
        string id;
        await using (var spool = new MessageSpool(_dir.Path))
        {
            id = await CommitAsync(spool, recipients: 2);
            File.WriteAllText(Path.Combine(StateDir, id), "POSTERN-STATE 1\n{not json");
            Assert.All(spool.DeliveryStates.Load(id).Recipients, r => Assert.Equal(RecipientStatus.Pending, r.Status));
        }
        await using var restarted = new MessageSpool(_dir.Path);
        SpoolRecovery recovery = restarted.Recover();
        Assert.Equal(1, recovery.DamagedStatesQuarantined);
        Assert.True(File.Exists(Path.Combine(_dir.Corrupt, id + ".state")));
        Assert.False(File.Exists(Path.Combine(StateDir, id)));
        Assert.Equal(1, recovery.Messages);
    }

    [Fact]
    public async Task A_state_that_does_not_match_the_envelope_is_not_used()
    {
        await using var spool = new MessageSpool(_dir.Path);
        string id = await CommitAsync(spool, recipients: 2);
        DeliveryState wrong = Delivered(spool.DeliveryStates.Load(id), 0);
        wrong = wrong with { Recipients = [wrong.Recipients[0] with { Address = "someone@else.example" }, wrong.Recipients[1]] };
        await spool.DeliveryStates.SaveAsync(wrong);
        Assert.All(spool.DeliveryStates.Load(id).Recipients, r => Assert.Equal(RecipientStatus.Pending, r.Status));
    }

    [Fact]
    public async Task Deleting_the_message_removes_its_state()
    {
        await using var spool = new MessageSpool(_dir.Path);
        string id = await CommitAsync(spool, recipients: 2);
        await spool.DeliveryStates.SaveAsync(Delivered(spool.DeliveryStates.Load(id), 0));
        Assert.True(File.Exists(Path.Combine(StateDir, id)));

        await spool.DeleteAsync(id);
        Assert.False(File.Exists(Path.Combine(_dir.Queue, id)));
        Assert.False(File.Exists(Path.Combine(StateDir, id)));
        Assert.Throws<FileNotFoundException>(() => spool.DeliveryStates.Load(id));

        // The synchronous form and a missing state are fine too.
        string other = await CommitAsync(spool, recipients: 1);
        spool.Delete(other);
        spool.DeliveryStates.Delete(other);
        Assert.Empty(spool.ListQueueIds());
    }

    [Fact]
    public async Task Stored_tells_whether_a_state_file_exists_to_be_removed()
    {
        await using var spool = new MessageSpool(_dir.Path);
        string fresh = await CommitAsync(spool, recipients: 1);
        Assert.False(spool.DeliveryStates.Load(fresh).Stored);

        string saved = await CommitAsync(spool, recipients: 2);
        await spool.DeliveryStates.SaveAsync(Delivered(spool.DeliveryStates.Load(saved), 0));
        Assert.True(spool.DeliveryStates.Load(saved).Stored);

        // A damaged file is still a file: the message's removal must take it along.
        string damaged = await CommitAsync(spool, recipients: 1);
        File.WriteAllText(Path.Combine(StateDir, damaged), "POSTERN-STATE 1\n{not json");
        DeliveryState pending = spool.DeliveryStates.Load(damaged);
        Assert.True(pending.Stored);
        Assert.Equal(RecipientStatus.Pending, Assert.Single(pending.Recipients).Status);
    }

    [Fact]
    public async Task A_message_delivered_at_its_first_attempt_is_removed_without_a_state()
    {
        await using var spool = new MessageSpool(_dir.Path);
        string id = await CommitAsync(spool, recipients: 1);
        await spool.DeleteAsync(id, hasState: false);
        Assert.False(File.Exists(Path.Combine(_dir.Queue, id)));
        Assert.Empty(spool.ListQueueIds());
        Assert.Throws<FileNotFoundException>(() => spool.DeliveryStates.Load(id));
    }

    [Fact]
    public async Task Concurrent_saves_of_different_messages_are_all_durable_and_intact()
    {
        await using var spool = new MessageSpool(_dir.Path);
        var ids = new List<string>();
        for (int i = 0; i < 40; i++)
        {
            ids.Add(await CommitAsync(spool, recipients: 1 + i % 3));
        }
        var states = ids.Select((id, i) => Sample(spool.DeliveryStates.Load(id), attempts: i)).ToList();
        long syncsBefore = spool.DeliveryStates.Sync.SyncCount;

        await Task.WhenAll(states.Select(s => Task.Run(() => spool.DeliveryStates.SaveAsync(s))));

        long syncs = spool.DeliveryStates.Sync.SyncCount - syncsBefore;
        Assert.InRange(syncs, 1, states.Count);
        await using var reopened = new MessageSpool(_dir.Path);
        for (int i = 0; i < ids.Count; i++)
        {
            Assert.Equal(states[i].Recipients, reopened.DeliveryStates.Load(ids[i]).Recipients);
        }
        Assert.DoesNotContain(Directory.GetFiles(StateDir), p => p.EndsWith(".tmp", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Repeated_saves_of_one_message_keep_the_last()
    {
        await using var spool = new MessageSpool(_dir.Path);
        string id = await CommitAsync(spool, recipients: 3);
        DeliveryState state = spool.DeliveryStates.Load(id);
        for (int attempt = 1; attempt <= 20; attempt++)
        {
            state = state.WithRecipient(2, state.Recipients[2] with { Status = RecipientStatus.Deferred, Attempts = attempt });
            await spool.DeliveryStates.SaveAsync(state);
        }
        Assert.Equal(20, spool.DeliveryStates.Load(id).Recipients[2].Attempts);
        Assert.Single(Directory.GetFiles(StateDir));
    }

    [Fact]
    public void Recorded_reply_keeps_code_status_and_text()
    {
        var reply = new SmtpReply(550, new EnhancedStatusCode(5, 1, 1), ["User unknown", "in virtual table"]);
        RecordedReply recorded = RecordedReply.FromReply(reply);
        Assert.Equal(550, recorded.Code);
        Assert.Equal("5.1.1", recorded.EnhancedStatus);
        Assert.Equal("User unknown in virtual table", recorded.Text);
        Assert.False(recorded.IsLocal);
        Assert.Equal("550 5.1.1 User unknown in virtual table", recorded.ToString());
        Assert.True(RecordedReply.Local(454, new EnhancedStatusCode(4, 7, 4), "no STARTTLS").IsLocal);
    }

    [Fact]
    public async Task Save_rejects_an_id_that_is_not_a_queue_id()
    {
        await using var spool = new MessageSpool(_dir.Path);
        var state = new DeliveryState { QueueId = "../evil", Recipients = [] };
        await Assert.ThrowsAsync<ArgumentException>(() => spool.DeliveryStates.SaveAsync(state));
    }

    private static async Task<string> CommitAsync(MessageSpool spool, int recipients)
    {
        string id = spool.NewQueueId();
        await using SpoolWriter writer = spool.CreateWriter(SpoolSamples.Envelope(id, recipients));
        await writer.WriteAsync(Encoding.ASCII.GetBytes("Subject: test\r\n\r\nhello\r\n"));
        await writer.CommitAsync();
        return id;
    }

    private static DeliveryState Delivered(DeliveryState state, int index) =>
        state.WithRecipient(index, state.Recipients[index] with { Status = RecipientStatus.Delivered, Attempts = 1, LastAttemptAt = T0 });

    private static DeliveryState Sample(DeliveryState state, int attempts = 3)
    {
        DeliveryState result = state with { FirstAttemptAt = T0, UpdatedAt = T0.AddMinutes(30) };
        result = result.WithRecipient(0, result.Recipients[0] with
        {
            Status = RecipientStatus.Delivered,
            Attempts = 1,
            LastAttemptAt = T0,
            LastReply = new RecordedReply { Code = 250, EnhancedStatus = "2.0.0", Text = "Ok: queued as 4XyZ" },
            RemoteMta = "mail.fabrikam.example [192.0.2.30]",
            Connector = "To Fabrikam servers",
        });
        if (result.Recipients.Count > 1)
        {
            result = result.WithRecipient(1, result.Recipients[1] with
            {
                Status = RecipientStatus.Deferred,
                Attempts = attempts,
                LastAttemptAt = T0.AddMinutes(30),
                NextAttemptAt = T0.AddMinutes(60),
                LastReply = RecordedReply.Local(454, new EnhancedStatusCode(4, 7, 4),
                    "TLS is required by connector 'To Contoso' and mail.contoso.example did not offer STARTTLS"),
                RemoteMta = "mail.contoso.example [192.0.2.25]",
                Connector = "To Contoso",
                DelayNotified = true,
            });
        }
        return result;
    }
}
