-- A pipeline file whose first statement starts on line 10, column 3,
-- after line comments,
/* a block comment
   with a ; and a 'quote and WATERMARK ts DELAY OF INTERVAL -1 DAY
   /* nested */ still inside
*/
;   -- an empty statement
-- and a comment with ; inside

  create or replace temp view "Recent Orders" comment 'last day' as
    select *
    from sales.orders
    where ts > now() - INTERVAL 1 DAY;
