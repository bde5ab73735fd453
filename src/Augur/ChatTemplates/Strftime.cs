using System.Globalization;
using System.Text;

namespace Augur.ChatTemplates;

/// <summary>
/// Python's <c>datetime.strftime</c> in the C locale (English names), for Hugging Face's <c>strftime_now</c>.
/// Covers the usual directives and glibc's '-' flag (<c>%-d</c>: no zero padding), which Python on Linux passes
/// through; an unknown directive is copied as it is, as glibc does.
/// </summary>
internal static class Strftime
{
    static readonly string[] Days = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];

    static readonly string[] Months =
        ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"];

    public static string Format(DateTime time, string format)
    {
        var sb = new StringBuilder();
        for (int i = 0; i < format.Length; i++)
        {
            if (format[i] != '%' || i + 1 >= format.Length)
            {
                sb.Append(format[i]);
                continue;
            }
            int start = i;
            bool pad = true;
            if (format[i + 1] == '-' && i + 2 < format.Length)
            {
                pad = false;
                i++;
            }
            char directive = format[++i];
            string Number(int value, int width) =>
                pad ? value.ToString(new string('0', width), CultureInfo.InvariantCulture) : value.ToString(CultureInfo.InvariantCulture);
            int hour12 = time.Hour % 12 == 0 ? 12 : time.Hour % 12;
            sb.Append(directive switch
            {
                'a' => Days[(int)time.DayOfWeek][..3],
                'A' => Days[(int)time.DayOfWeek],
                'b' or 'h' => Months[time.Month - 1][..3],
                'B' => Months[time.Month - 1],
                'd' => Number(time.Day, 2),
                'e' => pad ? time.Day.ToString(CultureInfo.InvariantCulture).PadLeft(2) : Number(time.Day, 2),
                'm' => Number(time.Month, 2),
                'y' => Number(time.Year % 100, 2),
                'Y' => time.Year.ToString(CultureInfo.InvariantCulture),
                'H' => Number(time.Hour, 2),
                'I' => Number(hour12, 2),
                'M' => Number(time.Minute, 2),
                'S' => Number(time.Second, 2),
                'p' => time.Hour < 12 ? "AM" : "PM",
                'j' => Number(time.DayOfYear, 3),
                'F' => time.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture),
                'T' => time.ToString("HH:mm:ss", CultureInfo.InvariantCulture),
                '%' => "%",
                _ => format[start..(i + 1)],
            });
        }
        return sb.ToString();
    }
}
