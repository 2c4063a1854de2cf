using Postern.Spool;

namespace Postern.Tests.Spool;

public sealed class QueueIdTests
{
    [Fact]
    public void Ids_are_fixed_width_base36_and_strictly_increasing()
    {
        var generator = new QueueIdGenerator();
        string previous = generator.Next();
        for (int i = 0; i < 100_000; i++)
        {
            string id = generator.Next();
            Assert.Equal(18, id.Length);
            Assert.True(QueueIdGenerator.IsValid(id), id);
            Assert.True(string.CompareOrdinal(previous, id) < 0, $"{previous} !< {id}");
            previous = id;
        }
    }

    [Fact]
    public async Task Ids_are_unique_across_threads_and_instances_in_the_same_millisecond()
    {
        var frozen = new FrozenTime(new DateTimeOffset(2026, 11, 29, 0, 0, 0, TimeSpan.Zero));
        QueueIdGenerator[] generators = [new(frozen), new(frozen)];
        string[][] batches = await Task.WhenAll(Enumerable.Range(0, 8).Select(t => Task.Run(
            () => Enumerable.Range(0, 20_000).Select(_ => generators[t % 2].Next()).ToArray())));

        string[] all = batches.SelectMany(b => b).ToArray();
        Assert.Equal(all.Length, all.Distinct().Count());
    }

    [Fact]
    public void Ids_sort_by_time()
    {
        var time = new FrozenTime(new DateTimeOffset(2026, 11, 29, 0, 0, 0, TimeSpan.Zero));
        var early = new QueueIdGenerator(time);
        string a = early.Next();
        time.Now = time.Now.AddMilliseconds(1);
        string b = new QueueIdGenerator(time).Next(); // another instance, e.g. after a restart
        time.Now = time.Now.AddSeconds(-10);           // clock stepped back
        string c = early.Next();

        Assert.True(string.CompareOrdinal(a, b) < 0);
        Assert.True(string.CompareOrdinal(a, c) < 0);
    }

    [Fact]
    public void The_time_an_id_was_made_is_read_back_to_the_millisecond()
    {
        var made = new DateTimeOffset(2026, 11, 29, 4, 13, 43, 517, TimeSpan.Zero);
        string id = new QueueIdGenerator(new FrozenTime(made)).Next();
        Assert.True(QueueIdGenerator.TryGetTime(id, out DateTimeOffset read));
        Assert.Equal(made, read);
    }

    [Theory]
    [InlineData("")]
    [InlineData("ABC")]
    [InlineData("0K9Q2M7B3X4D1A5F")]
    [InlineData("0k9q2m7b30000abcde")]
    public void An_id_of_another_form_has_no_time(string id) => Assert.False(QueueIdGenerator.TryGetTime(id, out _));

    private sealed class FrozenTime(DateTimeOffset now) : TimeProvider
    {
        public DateTimeOffset Now { get; set; } = now;

        public override DateTimeOffset GetUtcNow() => Now;
    }
}
