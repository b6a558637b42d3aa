-- Custom events per UTC day and platform over the last 30 days, newest day first.
-- The filter on event_date (the Hive partition) makes BigQuery read only those days' files.
SELECT event_date,
       platform,
       COUNT(*)                        AS events,
       COUNT(DISTINCT conversation_id) AS conversations
FROM botevents.custom_event_detail
WHERE event_date >= DATE_SUB(CURRENT_DATE('UTC'), INTERVAL 30 DAY)
GROUP BY event_date, platform
ORDER BY event_date DESC, events DESC;
