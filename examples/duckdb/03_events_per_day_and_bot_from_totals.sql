-- Events per UTC day and bot from the vendor's daily totals: a much smaller table than the
-- details, cheap for dashboards (after 01_views.sql). The totals count the same events as the
-- detail rows, so this equals count(*) of custom_event_detail per day and bot.
SELECT event_date,
       bot_id,
       sum(event_count) AS events
FROM custom_event_total
WHERE "interval" = 'daily'
GROUP BY ALL
ORDER BY event_date DESC, bot_id;
