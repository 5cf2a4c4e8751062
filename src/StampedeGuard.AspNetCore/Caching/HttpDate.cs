namespace StampedeGuard.AspNetCore.Caching;

/// <summary>
/// A strict HTTP-date parser (RFC 9110 5.6.7): IMF-fixdate (<c>Sun, 06 Nov 1994 08:49:37 GMT</c>), the obsolete RFC 850
/// form (<c>Sunday, 06-Nov-94 08:49:37 GMT</c>) and asctime (<c>Sun Nov  6 08:49:37 1994</c>), nothing else: no
/// extra or missing spaces, no one-digit hours, no dashes in an IMF-fixdate. Names and <c>GMT</c> are matched without
/// regard to case. A value that fails to parse is, for <c>Expires</c>, "already expired" (RFC 9111 5.3). ASP.NET Core's
/// <c>HeaderUtilities.TryParseDate</c> accepts far more, which turned malformed <c>Expires</c> values into years of freshness.
/// </summary>
internal static class HttpDate
{
    private static readonly string[] Months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    private static readonly string[] ShortDays = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
    private static readonly string[] LongDays = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"];

    /// <summary>Parses <paramref name="text"/>; <paramref name="now"/> resolves an RFC 850 two-digit year (more than 50 years ahead means the previous century).</summary>
    public static bool TryParse(ReadOnlySpan<char> text, DateTimeOffset now, out DateTimeOffset date)
    {
        date = default;
        var comma = text.IndexOf(',');
        if (comma < 0)
        {
            return TryAsctime(text, out date);
        }

        var dayName = text[..comma];
        var rest = text[(comma + 1)..];
        if (IsOneOf(dayName, ShortDays))
        {
            // IMF-fixdate: ", 06 Nov 1994 08:49:37 GMT"
            return rest.Length == 25 && rest[0] == ' ' && rest[3] == ' ' && rest[7] == ' ' && rest[12] == ' ' && rest[21] == ' '
                && TwoDigits(rest[1..3], out var day) && Month(rest[4..7], out var month) && Digits(rest[8..12], out var year)
                && Gmt(rest[22..]) && TryBuild(year, month, day, rest[13..21], out date);
        }

        if (IsOneOf(dayName, LongDays))
        {
            // RFC 850: ", 06-Nov-94 08:49:37 GMT"
            if (rest.Length == 23 && rest[0] == ' ' && rest[3] == '-' && rest[7] == '-' && rest[10] == ' ' && rest[19] == ' '
                && TwoDigits(rest[1..3], out var day) && Month(rest[4..7], out var month) && TwoDigits(rest[8..10], out var yy) && Gmt(rest[20..]))
            {
                var year = (now.Year / 100 * 100) + yy;
                if (year > now.Year + 50)
                {
                    year -= 100;
                }
                else if (year + 100 <= now.Year + 50)
                {
                    year += 100;
                }

                return TryBuild(year, month, day, rest[11..19], out date);
            }
        }

        return false;
    }

    // asctime: "Sun Nov  6 08:49:37 1994" (day: two digits, or a space and one digit)
    private static bool TryAsctime(ReadOnlySpan<char> text, out DateTimeOffset date)
    {
        date = default;
        if (text.Length != 24 || text[3] != ' ' || text[7] != ' ' || text[10] != ' ' || text[19] != ' '
            || !IsOneOf(text[..3], ShortDays) || !Month(text[4..7], out var month) || !Digits(text[20..24], out var year))
        {
            return false;
        }

        int day;
        if (text[8] == ' ')
        {
            if (!Digits(text[9..10], out day))
            {
                return false;
            }
        }
        else if (!TwoDigits(text[8..10], out day))
        {
            return false;
        }

        return TryBuild(year, month, day, text[11..19], out date);
    }

    private static bool TryBuild(int year, int month, int day, ReadOnlySpan<char> time, out DateTimeOffset date)
    {
        date = default;
        if (time.Length != 8 || time[2] != ':' || time[5] != ':'
            || !TwoDigits(time[..2], out var hour) || !TwoDigits(time[3..5], out var minute) || !TwoDigits(time[6..8], out var second)
            || year < 1 || year > 9999 || day < 1 || day > DateTime.DaysInMonth(year, month) || hour > 23 || minute > 59 || second > 60)
        {
            return false;
        }

        date = new DateTimeOffset(year, month, day, hour, minute, Math.Min(second, 59), TimeSpan.Zero);
        return true;
    }

    private static bool Gmt(ReadOnlySpan<char> text) => text.Equals("GMT", StringComparison.OrdinalIgnoreCase);

    private static bool Month(ReadOnlySpan<char> text, out int month)
    {
        for (month = 1; month <= 12; month++)
        {
            if (text.Equals(Months[month - 1], StringComparison.OrdinalIgnoreCase))
            {
                return true;
            }
        }

        return false;
    }

    private static bool IsOneOf(ReadOnlySpan<char> text, string[] names)
    {
        foreach (var name in names)
        {
            if (text.Equals(name, StringComparison.OrdinalIgnoreCase))
            {
                return true;
            }
        }

        return false;
    }

    private static bool TwoDigits(ReadOnlySpan<char> text, out int value) => Digits(text, out value) && text.Length == 2;

    private static bool Digits(ReadOnlySpan<char> text, out int value)
    {
        value = 0;
        if (text.IsEmpty)
        {
            return false;
        }

        foreach (var c in text)
        {
            if (c is < '0' or > '9')
            {
                return false;
            }

            value = (value * 10) + (c - '0');
        }

        return true;
    }
}
