-- Custom events per UTC day and platform over the last 30 days, newest day first.
-- The filter on event_date (the partition column) prunes the files Snowflake scans.
SELECT event_date,
       platform,
       COUNT(*)                        AS events,
       COUNT(DISTINCT conversation_id) AS conversations
FROM custom_event_detail
WHERE event_date >= DATEADD(day, -30, CURRENT_DATE())
GROUP BY event_date, platform
ORDER BY event_date DESC, events DESC;
